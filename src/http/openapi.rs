//! The OpenAPI document. Paths come from the `#[utoipa::path]` attribute beside each handler,
//! collected by the `utoipa-axum` routers that also serve them, so the spec cannot drift from
//! the routes. This type adds what no single handler owns: tags, shared schemas, the intro.

use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};

use crate::http::problem::{InvalidParam, PROBLEM_JSON, Problem};

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
        (name = "transfers", description = "Money between accounts: a process manager settles each transfer (credit, or refund as compensation)."),
        (name = "operations", description = "Health and how the projections are doing."),
    ),
    components(schemas(Problem, InvalidParam))
)]
pub struct ApiDoc;

/// The complete document, as served at `/api-docs/openapi.json` and committed as
/// `openapi/openapi.json`.
pub fn openapi() -> Value {
    let (_, api) = crate::http::api_router().split_for_parts();
    document(&api)
}

/// `api` as JSON, with the link objects corrected and every operation's load-shedding `503`.
///
/// utoipa 5 serializes the fields of a response link in snake case (`operation_id`) where
/// OpenAPI says `operationId`; tools that follow links (Swagger UI, schemathesis's stateful
/// phase) would not recognise them.
pub(crate) fn document(api: &utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(api).unwrap_or(Value::Null);
    declare_overload(&mut document);
    let links = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|operations| operations.values_mut())
        .filter_map(|operation| operation.get_mut("responses").and_then(Value::as_object_mut))
        .flat_map(|responses| responses.values_mut())
        .filter_map(|response| response.get_mut("links").and_then(Value::as_object_mut))
        .flat_map(|links| links.values_mut())
        .filter_map(Value::as_object_mut);
    for link in links {
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
    document
}

/// Adds `503 overloaded` to every operation: the limit of requests in flight (a layer of
/// [`router`](crate::http::router)) applies to all of them, so no handler declares it. An
/// operation that already answers 503 for its own reasons gets the reason added.
fn declare_overload(document: &mut Value) {
    const OVERLOADED: &str = "Too many requests in flight (`overloaded`): nothing was done, \
        retry after `Retry-After` seconds";
    let responses = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|operations| operations.values_mut())
        .filter_map(|operation| operation.get_mut("responses").and_then(Value::as_object_mut));
    for responses in responses {
        match responses
            .get_mut("503")
            .and_then(|response| response.get_mut("description"))
        {
            Some(Value::String(description)) => {
                description.push_str(". ");
                description.push_str(OVERLOADED);
            }
            _ => {
                responses.insert(
                    "503".to_owned(),
                    json!({
                        "description": OVERLOADED,
                        "content": { PROBLEM_JSON: { "schema": {
                            "$ref": format!("#/components/schemas/{}", Problem::name())
                        } } }
                    }),
                );
            }
        }
    }
}

/// The document as pretty JSON with a trailing newline: the exact bytes of the committed file.
pub fn openapi_json() -> String {
    let mut json = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    json.push('\n');
    json
}
