//! The OpenAPI document. Paths come from the `#[utoipa::path]` attribute beside each handler,
//! collected by the `utoipa-axum` routers that also serve them, so the spec cannot drift from
//! the routes. This type adds what no single handler owns: tags, shared schemas, the intro.

use serde_json::{Value, json};
use strum::VariantArray;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::problem::{InvalidParam, PROBLEM_JSON, Problem};
use crate::integration::contract::{self, IntegrationEventType};
use crate::integration::signing;

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
            command conditional on the version you read (412 if it moved on).\n\n\
            Requests carry an API key, `Authorization: Bearer fbk_...` (use **Authorize**). A \
            customer key sees and acts on its owner's accounts only; an operator key sees every \
            account and the operations endpoints. Without any key, the service serves only its \
            loopback address and `localhost` host names, until the first key is created (local \
            development).\n\n\
            Every `POST` is sent as `Content-Type: application/json`, also when it has no \
            parameters (`{}` or an empty body); anything else is `415`."
    ),
    modifiers(&BearerKeys, &IntegrationSchemas),
    security(("api_key" = [])),
    tags(
        (name = "accounts", description = "Commands: open accounts, move money, freeze, close. And the audit trail of events."),
        (name = "queries", description = "Reads of the read models (eventually consistent: pass `min_position` to read your own writes), and time travel with `at`."),
        (name = "holds", description = "Authorize now, capture or void later: money held is no longer available; a hold nobody settles expires at its deadline, exactly once."),
        (name = "transfers", description = "Money between accounts: a process manager settles each transfer (credit, or refund as compensation)."),
        (name = "operations", description = "Health and how the projections are doing."),
        (name = "webhooks", description = "Integration events for other services: a published contract (`money.deposited.v1`, ...) apart from the domain events, without personal data, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The `webhooks` section of this document describes each message."),
        (name = "feed", description = "The event log for other services, in position order: paged (`/events`) and live as Server-Sent Events (`/events/stream`), and the signed checkpoints of its hash chain (`/chain`). Operator keys only."),
    ),
    components(schemas(Problem, InvalidParam))
)]
pub struct ApiDoc;

/// The name of the security scheme every operation but the public ones requires (also named
/// in `security` of [`ApiDoc`], which takes a literal).
const BEARER: &str = "api_key";

/// Declares the API keys of [`crate::auth`] as an HTTP bearer scheme, which gives Swagger UI its
/// Authorize button.
struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("fbk_<key id>_<secret>")
            .description(Some(
                "An API key made with `foldbank keys create --owner <owner id>` (a customer) or \
                 `--operator`.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// Adds the schemas of the integration events, which only the `webhooks` section (added to the
/// JSON by [`document`]: utoipa 5 has no webhooks) refers to.
struct IntegrationSchemas;

impl Modify for IntegrationSchemas {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.extend(contract::schemas());
    }
}

/// The complete document, as served at `/api-docs/openapi.json` and committed as
/// `openapi/openapi.json`.
pub fn openapi() -> Value {
    let (_, api) = crate::http::api_router().split_for_parts();
    document(&api)
}

/// `api` as JSON, with the link objects corrected and the responses of the middleware layers.
///
/// utoipa 5 serializes the fields of a response link in snake case (`operation_id`) where
/// OpenAPI says `operationId`; tools that follow links (Swagger UI, schemathesis's stateful
/// phase) would not recognise them.
pub(crate) fn document(api: &utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(api).unwrap_or(Value::Null);
    declare_layer_responses(&mut document);
    declare_webhooks(&mut document);
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

/// The responses that layers of [`router`](crate::http::router) give, added to every operation
/// they apply to (no handler declares them): `503 overloaded` from the limit of requests in
/// flight and `429` from the rate limit, on all; `401` and `421` on every operation that needs
/// a key (those without a `security` of their own). An operation that already answers a status for
/// its own reasons gets this reason added to its description.
fn declare_layer_responses(document: &mut Value) {
    const OVERLOADED: &str = "Too many requests in flight (`overloaded`): nothing was done, \
        retry after `Retry-After` seconds";
    const RATE_LIMITED: &str = "This caller sent too many requests (`too-many-requests`): \
        nothing was done, retry after `Retry-After` seconds";
    const UNAUTHORIZED: &str = "The API key is missing, malformed, unknown or revoked \
        (`unauthorized`, with `WWW-Authenticate: Bearer`)";
    const MISDIRECTED: &str = "In local development mode (no API key exists), a request \
        without a key for a `Host` that is not this machine's (`misdirected-request`)";
    let operations = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|operations| operations.values_mut())
        .filter_map(Value::as_object_mut);
    for operation in operations {
        let needs_key = !operation.contains_key("security");
        let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        if needs_key {
            declare(responses, "401", UNAUTHORIZED);
            declare(responses, "421", MISDIRECTED);
        }
        declare(responses, "429", RATE_LIMITED);
        declare(responses, "503", OVERLOADED);
    }
}

/// The OpenAPI 3.1 `webhooks` section: one message per integration event type, as a receiver
/// gets it (signed body, its three headers, the answers that end or retry a delivery).
fn declare_webhooks(document: &mut Value) {
    let header = |name: &str, description: &str| json!({ "name": name, "in": "header", "required": true, "description": description, "schema": { "type": "string" } });
    let parameters = json!([
        header(
            signing::WEBHOOK_ID,
            "The event's id: the same on every retry and replay of this message, so a receiver drops duplicates by it."
        ),
        header(
            signing::WEBHOOK_TIMESTAMP,
            "When this attempt was signed, in seconds since the Unix epoch: refuse messages more than a few minutes old."
        ),
        header(
            signing::WEBHOOK_SIGNATURE,
            "`v1,<base64 HMAC-SHA256>` of `<webhook-id>.<webhook-timestamp>.<body>` with the subscription's secret (`whsec_<base64>`, the key being the decoded bytes)."
        ),
    ]);
    let webhooks: serde_json::Map<String, Value> = IntegrationEventType::VARIANTS
        .iter()
        .map(|event_type| {
            let name = event_type.as_str();
            let body = json!({
                "type": "object",
                "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": { "type": "string", "const": name },
                    "timestamp": { "type": "string", "format": "date-time", "description": "The business time of the fact." },
                    "data": { "allOf": [
                        { "$ref": format!("#/components/schemas/{}", contract::EventSource::name()) },
                        { "$ref": format!("#/components/schemas/{}", contract::fact_schema_name(*event_type)) },
                    ] },
                },
            });
            let message = json!({ "post": {
                "operationId": format!("webhook-{name}"),
                "summary": event_type.summary(),
                "tags": ["webhooks"],
                "security": [],
                "parameters": parameters,
                "requestBody": { "required": true, "content": { "application/json": { "schema": body } } },
                "responses": {
                    "2XX": { "description": "Received: any 2xx status ends the delivery of this message." },
                    "default": { "description": "Any other status, a redirect, a timeout or no connection: the message is sent again with back-off, then parked." },
                },
            } });
            (name.to_owned(), message)
        })
        .collect();
    document["webhooks"] = Value::Object(webhooks);
}

/// Adds a problem response for `status`, or `description` to the one already there.
fn declare(responses: &mut serde_json::Map<String, Value>, status: &str, description: &str) {
    match responses
        .get_mut(status)
        .and_then(|response| response.get_mut("description"))
    {
        Some(Value::String(existing)) => {
            existing.push_str(". ");
            existing.push_str(description);
        }
        _ => {
            responses.insert(
                status.to_owned(),
                json!({
                    "description": description,
                    "content": { PROBLEM_JSON: { "schema": {
                        "$ref": format!("#/components/schemas/{}", Problem::name())
                    } } }
                }),
            );
        }
    }
}

/// The document as pretty JSON with a trailing newline: the exact bytes of the committed file.
pub fn openapi_json() -> String {
    let mut json = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
    json.push('\n');
    json
}
