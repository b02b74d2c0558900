//! The OpenAPI document. Paths come from the `#[utoipa::path]` attribute beside each handler,
//! collected by the `utoipa-axum` routers that also serve them, so the spec cannot drift from
//! the routes. This type adds what no single handler owns: tags, shared schemas, the intro.

use utoipa::OpenApi;

use crate::http::problem::{InvalidParam, Problem};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "foldbank",
        description = "A banking service built with CQRS and Event Sourcing.\n\n\
            Commands (`POST`) append events to an append-only log after the account aggregate \
            checks its rules; queries (`GET`) read projections of that log.\n\n\
            Amounts are integers in the currency's minor unit (cents for EUR). Every error is an \
            RFC 9457 `application/problem+json` document whose `type` identifies the kind of \
            problem. Commands answer `ETag: \"<version>\"`; send it back as `If-Match` to make a \
            command conditional on the version you read (412 if it moved on)."
    ),
    tags(
        (name = "accounts", description = "Commands: open accounts, move money, freeze, close. And the audit trail of events."),
        (name = "queries", description = "Reads of the read models (eventually consistent: pass `min_position` to read your own writes), and time travel with `at`."),
        (name = "operations", description = "How the projections are doing."),
    ),
    components(schemas(Problem, InvalidParam))
)]
pub struct ApiDoc;

/// The complete document, as served at `/api-docs/openapi.json` and committed as
/// `openapi/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = crate::http::api_router().split_for_parts();
    api
}

/// The document as pretty JSON with a trailing newline: the exact bytes of the committed file.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"));
    json.push('\n');
    json
}
