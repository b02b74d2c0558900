//! `Idempotency-Key` on every command, after the IETF httpapi draft and Stripe's practice.
//!
//! A client that did not get an answer (a time-out, a dropped connection, an `outcome-unknown`
//! problem) cannot know whether its command was written. With a key it can simply send the same
//! request again:
//!
//! - the first request with a key runs; its response (status, body, `ETag`, `Location`) is
//!   recorded **in the same transaction as its events**, so either both exist or neither does;
//! - the same key with the same request (method, path and body, compared by a SHA-256
//!   fingerprint) answers the recorded response again, with `Idempotent-Replayed: true`, and
//!   writes nothing;
//! - the same key with a different request is `422 idempotency-key-reused`;
//! - refusals (4xx) are not recorded: the command wrote nothing, so a retry is simply decided
//!   again (and may now succeed, for example after a deposit);
//! - recorded responses are kept at least 24 hours ([`KEY_RETENTION`]), then deleted.
//!
//! Concurrent duplicates are written once: keys are checked under the event log's append lock
//! (`crate::store::group_commit`), so of two requests racing with one key, one appends and the
//! other answers its response.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::command::{CommandOptions, CommandOutcome, Idempotency, RenderResponse};
use crate::http::CommandStarted;
use crate::http::extract::{BODY_LIMIT_BYTES, CorrelationId, IfMatch, etag, require_json};
use crate::http::problem::ApiError;
use crate::http::recorded::respond;
use crate::store::RecordedResponse;

pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// How long a recorded response is kept at least.
pub const KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// Keys longer than this are refused; the draft leaves the format to the server.
const MAX_KEY_LEN: usize = 255;

/// Whose keys these are when requests are not authenticated (local development): every
/// client shares one scope, so keys should be unique per client (UUIDs are).
const ANONYMOUS_SCOPE: &str = "anonymous";

/// A digest of a keyed request, computed before its body is parsed.
#[derive(Debug, Clone)]
struct Fingerprint(String);

/// Middleware: fingerprints every `POST` that carries an `Idempotency-Key` (method, path and
/// the exact body bytes), then hands the request on unchanged.
pub(crate) async fn fingerprint_keyed_requests(request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key(IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, BODY_LIMIT_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::PayloadTooLarge {
                limit_bytes: BODY_LIMIT_BYTES,
            }
            .into_response();
        }
    };
    let mut digest = Sha256::new();
    digest.update(parts.method.as_str().as_bytes());
    digest.update(b"\n");
    digest.update(parts.uri.path().as_bytes());
    digest.update(b"\n");
    digest.update(&bytes);
    let fingerprint = hex::encode(digest.finalize());
    parts.extensions.insert(Fingerprint(fingerprint));
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// Everything about a command request besides its body: `If-Match`, the request id and the
/// `Idempotency-Key`.
#[derive(Debug, Clone)]
pub struct CommandRequest {
    /// Who sends it (see [`crate::http::auth`]).
    pub caller: Caller,
    precondition: Option<i64>,
    correlation_id: Option<String>,
    key: Option<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        require_json(&parts.headers)?;
        let IfMatch(precondition) = IfMatch::from_request_parts(parts, state).await?;
        let Ok(CorrelationId(correlation_id)) = CorrelationId::from_request_parts(parts, state).await;
        let key = match parts.headers.get(IDEMPOTENCY_KEY) {
            None => None,
            Some(value) => {
                let key = parse_key(value)?;
                let fingerprint = parts
                    .extensions
                    .get::<Fingerprint>()
                    .map(|fingerprint| fingerprint.0.clone())
                    .ok_or_else(|| ApiError::MalformedRequest("an Idempotency-Key needs a POST".into()))?;
                Some((key, fingerprint))
            }
        };
        let caller = Caller::from_request_parts(parts, state).await?;
        // From here on the command may reach the event store: a deadline is `outcome-unknown`.
        if let Some(started) = parts.extensions.get::<CommandStarted>() {
            started.mark();
        }
        Ok(CommandRequest {
            caller,
            precondition: match precondition {
                crate::command::Precondition::None => None,
                crate::command::Precondition::Version(version) => Some(version),
            },
            correlation_id,
            key,
        })
    }
}

/// A key is 1 to 255 visible ASCII characters; the draft's quoted form (`"..."`, a structured
/// field string) and the bare form are both accepted.
fn parse_key(value: &HeaderValue) -> Result<String, ApiError> {
    let malformed = || {
        ApiError::MalformedRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters, such as a UUID"
        ))
    };
    let text = value.to_str().map_err(|_| malformed())?.trim();
    let key = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(malformed());
    }
    Ok(key.to_owned())
}

impl CommandRequest {
    /// The request's `Idempotency-Key`, scoped to its caller (keys of different callers never
    /// collide), with the request's fingerprint: for writes that are not commands on the log.
    pub(crate) fn scoped_key(&self) -> Option<(String, String)> {
        self.key
            .as_ref()
            .map(|(key, fingerprint)| (format!("{}: {key}", self.scope()), fingerprint.clone()))
    }

    fn scope(&self) -> String {
        match self.caller {
            Caller::Customer { owner_id, .. } => format!("owner {owner_id}"),
            Caller::Operator { key_id } => format!("key {key_id}"),
            Caller::Developer => ANONYMOUS_SCOPE.to_owned(),
        }
    }

    /// For commands that take no `If-Match` (they create what they act on).
    pub(crate) fn ignoring_if_match(mut self) -> Self {
        self.precondition = None;
        self
    }

    /// The command's options; `reply` renders the response to record for its key.
    pub(crate) fn options(self, reply: &Reply) -> CommandOptions {
        // Keys of different callers never collide: a customer's are its owner's, an operator's
        // its own.
        let scope = self.scope();
        CommandOptions {
            precondition: self.precondition,
            correlation_id: self.correlation_id,
            owner: self.caller.owner(),
            key_id: self.caller.key_id(),
            movement: None,
            companion: None,
            opens: false,
            idempotency: self.key.map(|(key, fingerprint)| Idempotency {
                scope,
                key,
                fingerprint,
                render: reply.render.clone(),
            }),
        }
    }
}

/// How an endpoint answers a successful command: the same rendering serves the first answer
/// and every replay of it.
#[derive(Clone)]
pub(crate) struct Reply {
    render: RenderResponse,
}

impl Reply {
    /// Answers `status` with the body `body` makes of the outcome, the new version as `ETag`,
    /// and the `Location` that `location` gives, if any.
    pub(crate) fn new(
        status: StatusCode,
        body: impl Fn(&CommandOutcome) -> Value + Send + Sync + 'static,
        location: impl Fn(&CommandOutcome) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Reply {
            render: Arc::new(move |outcome: &CommandOutcome| RecordedResponse {
                fingerprint: String::new(),
                status: i32::from(status.as_u16()),
                body: body(outcome),
                etag: Some(etag(outcome.version)),
                location: location(outcome),
                recorded_at: chrono::DateTime::UNIX_EPOCH,
            }),
        }
    }

    pub(crate) fn to(&self, outcome: &CommandOutcome) -> Response {
        respond(&(self.render)(outcome))
    }
}

/// The `Idempotency-Key` header in OpenAPI, for commands without `If-Match` (opening an
/// account, sending a transfer).
#[derive(Debug)]
pub(crate) struct IdempotencyKeyParam;

impl utoipa::IntoParams for IdempotencyKeyParam {
    fn into_params(
        _parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let key = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(utoipa::openapi::Required::False)
            .description(Some(
                "Makes the command safe to retry: the same key with the same request answers the \
                 first response again (`Idempotent-Replayed: true`) and writes nothing; with another \
                 request it is `422 idempotency-key-reused`. Refusals are not recorded. Keys are kept \
                 at least 24 hours. Use a fresh UUID per command.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(MAX_KEY_LEN))
                    .pattern(Some("^[\\x21-\\x7e]+$")),
            ))
            .build();
        vec![key]
    }
}

/// `If-Match` and `Idempotency-Key` in OpenAPI.
impl utoipa::IntoParams for CommandRequest {
    fn into_params(
        parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        let mut params = IfMatch::into_params(&parameter_in);
        params.extend(IdempotencyKeyParam::into_params(parameter_in));
        params
    }
}
