//! RFC 9457 problem details: the one way this service reports an error.
//!
//! [`ApiError`] is the only error type that becomes an HTTP response. Every kind has a stable
//! `type` URI (clients and tests match on it, never on the prose in `detail`), a fixed `title`,
//! the HTTP status, and extension members with machine-readable data where useful. Causes of
//! internal errors go to the log with their `source()` chain, never into the body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::command::CommandError;
use crate::domain::account::AccountError;
use crate::domain::ids::AccountId;
use crate::store::{RecordedResponse, StoreError};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:foldbank:problem:insufficient-funds",
    "title": "Insufficient funds",
    "status": 422,
    "detail": "insufficient funds: 1000 minor units available, 5000 requested",
    "available": 1000,
    "requested": 5000
}))]
pub struct Problem {
    /// A URI that identifies the kind of problem; stable, safe to match on.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a human.
    pub detail: String,
    /// Machine-readable details of this kind (for example `available` and `requested`).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

/// One invalid field of a request, reported in the `errors` member of a validation problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct InvalidParam {
    /// The field, as a JSON pointer-like path (`amount`, `initial_deposit`).
    pub name: String,
    pub reason: String,
}

impl InvalidParam {
    pub(crate) fn new(name: &str, reason: impl std::fmt::Display) -> Self {
        InvalidParam {
            name: name.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// `result`'s value, or its error as the invalid field `name`.
    pub(crate) fn check<T, E: std::fmt::Display>(name: &str, result: Result<T, E>) -> Result<T, Self> {
        result.map_err(|error| InvalidParam::new(name, error))
    }
}

/// Every error the HTTP API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedRequest(String),
    #[error("the request has invalid values")]
    Validation(Vec<InvalidParam>),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body exceeds the limit of {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: usize },
    #[error("account {0} does not exist")]
    AccountNotFound(AccountId),
    #[error("transfer {0} does not exist")]
    TransferNotFound(uuid::Uuid),
    /// No account of this owner is known, or the key may not see them.
    #[error("no account of owner {0} is known")]
    OwnerNotFound(uuid::Uuid),
    #[error("webhook subscription {0} does not exist")]
    WebhookNotFound(uuid::Uuid),
    #[error("no read model is called {0:?}")]
    ProjectionNotFound(String),
    #[error(transparent)]
    Rejected(AccountError),
    #[error("the account is at version {actual}, the request required version {required}")]
    PreconditionFailed { required: i64, actual: i64 },
    #[error("{0}")]
    Conflict(String),
    /// The id already names a stream (an account or a transfer): an id names one stream for
    /// good. The same answer whoever owns that stream.
    #[error("id {0} is already in use")]
    IdInUse(uuid::Uuid),
    #[error("the account did not exist yet at {}", at.to_rfc3339())]
    NotYetOpened {
        account_id: AccountId,
        at: chrono::DateTime<chrono::Utc>,
    },
    #[error(transparent)]
    ProjectionBehind(crate::follow::Behind),
    /// A status produced outside the handlers (unknown route, wrong method, time-out, ...).
    #[error("{1}")]
    Status(StatusCode, String),
    #[error("the database is unavailable, try again shortly")]
    StorageUnavailable(#[source] StoreError),
    /// As many requests as allowed are in flight; this one was not started.
    #[error("the service is serving as many requests as it allows at once; try again shortly")]
    Overloaded,
    /// The request was answered before under its `Idempotency-Key`: the same answer again.
    #[error("the request was already answered")]
    Replayed(Box<RecordedResponse>),
    #[error("{0}")]
    Unauthorized(String),
    /// A request without a key in local development mode, to a `Host` that is not this
    /// machine's loopback (a DNS name rebound to 127.0.0.1 by a web page).
    #[error(
        "local development mode serves requests for localhost only; send an API key, or use http://localhost"
    )]
    MisdirectedRequest,
    /// `min_position` names a position the log has not reached: no wait can meet it.
    #[error(
        "min_position {wanted} is beyond the head of the log ({head}); pass a position a command answered"
    )]
    PositionBeyondHead { wanted: i64, head: i64 },
    #[error("{0}")]
    Forbidden(String),
    /// The owner's personal data was erased: a command may not carry new personal text of theirs.
    #[error(
        "the personal data of owner {0} was erased: nothing personal of theirs is stored any more; \
         send the command without personal text (a description, a reason)"
    )]
    PersonalDataErased(uuid::Uuid),
    /// As many event streams are open as allowed; this one was not opened.
    #[error("{limit} event streams are open, as many as this server allows; try again later")]
    TooManyEventStreams { limit: usize },
    #[error("too many requests from this caller; wait {retry_after_seconds} s")]
    RateLimited { retry_after_seconds: u64 },
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyKeyReused { key: String },
    #[error(
        "the command may or may not have been written; send it again with the same Idempotency-Key \
         to learn its outcome without writing it twice, or read the account before retrying without one"
    )]
    OutcomeUnknown,
    #[error("not ready: {0}")]
    NotReady(#[source] crate::readiness::NotReady),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<InvalidParam> for ApiError {
    fn from(param: InvalidParam) -> Self {
        ApiError::Validation(vec![param])
    }
}

impl ApiError {
    /// A validation problem listing every field found invalid (the `Some`s), in the order given,
    /// so a client fixes them all in one round trip.
    pub(crate) fn invalid_fields(fields: impl IntoIterator<Item = Option<InvalidParam>>) -> Self {
        ApiError::Validation(fields.into_iter().flatten().collect())
    }
}

/// The `type` URI of a problem kind.
pub fn problem_type(slug: &str) -> String {
    format!("urn:foldbank:problem:{slug}")
}

impl ApiError {
    /// `(status, type slug, title)` of this error's kind.
    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            ApiError::MalformedRequest(_) => (S::BAD_REQUEST, "malformed-request", "Malformed request"),
            ApiError::Validation(_) => (S::BAD_REQUEST, "validation-failed", "Invalid request values"),
            ApiError::UnsupportedMediaType(_) => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge { .. } => {
                (S::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large")
            }
            ApiError::AccountNotFound(_) => (S::NOT_FOUND, "account-not-found", "Account not found"),
            ApiError::TransferNotFound(_) => (S::NOT_FOUND, "transfer-not-found", "Transfer not found"),
            ApiError::OwnerNotFound(_) => (S::NOT_FOUND, "owner-not-found", "Owner not found"),
            ApiError::WebhookNotFound(_) => (S::NOT_FOUND, "webhook-not-found", "Webhook not found"),
            ApiError::ProjectionNotFound(_) => (S::NOT_FOUND, "projection-not-found", "Projection not found"),
            ApiError::Rejected(error) => rejection(error),
            ApiError::PreconditionFailed { .. } => (
                S::PRECONDITION_FAILED,
                "precondition-failed",
                "Version precondition failed",
            ),
            ApiError::Conflict(_) => (S::CONFLICT, "concurrency-conflict", "Concurrent modification"),
            ApiError::IdInUse(_) => (S::CONFLICT, "id-in-use", "Id already in use"),
            ApiError::NotYetOpened { .. } => {
                (S::NOT_FOUND, "account-not-yet-opened", "Account not yet opened")
            }
            ApiError::ProjectionBehind(_) => (
                S::SERVICE_UNAVAILABLE,
                "projection-behind",
                "Read model has not caught up",
            ),
            ApiError::Status(status, _) => status_kind(*status),
            ApiError::StorageUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "storage-unavailable",
                "Storage unavailable",
            ),
            ApiError::Overloaded => (
                S::SERVICE_UNAVAILABLE,
                "overloaded",
                "Too many requests in flight",
            ),
            ApiError::NotReady(_) => (S::SERVICE_UNAVAILABLE, "not-ready", "Not ready for traffic"),
            ApiError::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal-error",
                "Internal server error",
            ),
            ApiError::Replayed(_) => (S::OK, "replayed", "Replayed"),
            ApiError::Unauthorized(_) => (S::UNAUTHORIZED, "unauthorized", "API key missing or refused"),
            ApiError::MisdirectedRequest => (
                S::MISDIRECTED_REQUEST,
                "misdirected-request",
                "Not served for this host",
            ),
            ApiError::PositionBeyondHead { .. } => (
                S::BAD_REQUEST,
                "position-beyond-head",
                "Position beyond the head of the log",
            ),
            ApiError::Forbidden(_) => (S::FORBIDDEN, "forbidden", "Not allowed for this key"),
            ApiError::PersonalDataErased(_) => (
                S::UNPROCESSABLE_ENTITY,
                "personal-data-erased",
                "Personal data erased",
            ),
            ApiError::TooManyEventStreams { .. } => (
                S::SERVICE_UNAVAILABLE,
                "too-many-event-streams",
                "Too many event streams",
            ),
            ApiError::RateLimited { .. } => (S::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests"),
            ApiError::IdempotencyKeyReused { .. } => (
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency key already used",
            ),
            ApiError::OutcomeUnknown => (S::INTERNAL_SERVER_ERROR, "outcome-unknown", "Outcome unknown"),
        }
    }

    fn extensions(&self) -> Map<String, Value> {
        let members = match self {
            ApiError::Validation(errors) => json!({ "errors": errors }),
            ApiError::PayloadTooLarge { limit_bytes } => json!({ "limit_bytes": limit_bytes }),
            ApiError::AccountNotFound(id) => json!({ "account_id": id }),
            ApiError::TransferNotFound(id) => json!({ "transfer_id": id }),
            ApiError::WebhookNotFound(id) => json!({ "webhook_id": id }),
            ApiError::ProjectionNotFound(name) => json!({ "projection": name }),
            ApiError::OwnerNotFound(id) | ApiError::PersonalDataErased(id) => json!({ "owner_id": id }),
            ApiError::IdInUse(id) => json!({ "id": id }),
            ApiError::PositionBeyondHead { wanted, head } => json!({ "min_position": wanted, "head": head }),
            ApiError::NotYetOpened { account_id, at } => json!({ "account_id": account_id, "at": at }),
            ApiError::ProjectionBehind(behind) => {
                json!({ "min_position": behind.wanted, "projection_position": behind.reached })
            }
            ApiError::IdempotencyKeyReused { key } => json!({ "idempotency_key": key }),
            ApiError::RateLimited { retry_after_seconds } => json!({ "retry_after": retry_after_seconds }),
            ApiError::TooManyEventStreams { limit } => json!({ "max_event_streams": limit }),
            ApiError::PreconditionFailed { required, actual } => {
                json!({ "required_version": required, "current_version": actual })
            }
            ApiError::Rejected(error) => rejection_members(error),
            ApiError::NotReady(not_ready) => not_ready_members(not_ready),
            _ => json!({}),
        };
        match members {
            // An extension never replaces a member RFC 9457 defines: a JSON object with two
            // `status` members is read differently by different parsers.
            Value::Object(mut map) => {
                map.retain(|name, _| !STANDARD_MEMBERS.contains(&name.as_str()));
                map
            }
            _ => Map::new(),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (status, slug, title) = self.kind();
        Problem {
            problem_type: problem_type(slug),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            extensions: self.extensions(),
        }
    }
}

/// The members RFC 9457 defines, which no extension may reuse.
const STANDARD_MEMBERS: [&str; 5] = ["type", "title", "status", "detail", "instance"];

/// `(status, type slug, title)` of a broken rule: 422, but for the few that say the target is
/// missing, taken, or not the caller's to change.
fn rejection(error: &AccountError) -> (StatusCode, &'static str, &'static str) {
    let (slug, title) = rejection_kind(error);
    let status = match error {
        AccountError::TransactionNotFound(_) | AccountError::HoldNotFound(_) => StatusCode::NOT_FOUND,
        AccountError::HoldNotOpen { .. } => StatusCode::CONFLICT,
        AccountError::AlreadyOpened => StatusCode::CONFLICT,
        AccountError::FrozenByBank => StatusCode::FORBIDDEN,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, slug, title)
}

fn rejection_kind(error: &AccountError) -> (&'static str, &'static str) {
    match error {
        AccountError::NotOpened => ("account-not-found", "Account not found"),
        AccountError::AlreadyOpened => ("id-in-use", "Id already in use"),
        AccountError::CurrencyMismatch { .. } => ("currency-mismatch", "Currency mismatch"),
        AccountError::InsufficientFunds { .. } => ("insufficient-funds", "Insufficient funds"),
        AccountError::AccountFrozen => ("account-frozen", "Account frozen"),
        AccountError::AccountClosed => ("account-closed", "Account closed"),
        AccountError::AlreadyFrozen => ("account-already-frozen", "Account already frozen"),
        AccountError::NotFrozen => ("account-not-frozen", "Account not frozen"),
        AccountError::FrozenByBank => ("frozen-by-bank", "Frozen by the bank"),
        AccountError::DailyLimitExceeded { .. } => {
            ("daily-limit-exceeded", "Daily withdrawal limit exceeded")
        }
        AccountError::NonZeroBalance { .. } => ("non-zero-balance", "Balance is not zero"),
        AccountError::Overflow => ("balance-overflow", "Balance out of range"),
        AccountError::TransferToSelf => ("transfer-to-self", "Transfer to the same account"),
        AccountError::TransferIdReused(_) => ("transfer-id-reused", "Transfer id already used"),
        AccountError::TransferNotFound(_) => ("transfer-not-found", "Transfer not found"),
        AccountError::TransfersPending => ("transfers-pending", "Transfers in flight"),
        AccountError::TransactionNotFound(_) => ("transaction-not-found", "Transaction not found"),
        AccountError::NotReversible => ("transfer-not-reversible", "Transfer legs are not reversible"),
        AccountError::AlreadyReversed(_) => ("already-reversed", "Transaction already reversed"),
        AccountError::ReversalWindowClosed { .. } => ("reversal-window-closed", "Reversal window closed"),
        AccountError::HoldNotFound(_) => ("hold-not-found", "Hold not found"),
        AccountError::HoldIdReused(_) => ("hold-id-reused", "Hold id already used"),
        AccountError::HoldNotOpen { .. } => ("hold-not-open", "Hold no longer open"),
        AccountError::CaptureExceedsHold { .. } => ("capture-exceeds-hold", "Capture exceeds the hold"),
        AccountError::HoldExpiryOutOfRange => ("hold-expiry-out-of-range", "Hold expiry out of range"),
        AccountError::HoldNotDue { .. } => ("hold-not-due", "Hold not yet due"),
        AccountError::HoldsOpen => ("holds-open", "Holds open"),
        AccountError::OverdraftFeesDue => ("overdraft-fees-due", "Overdraft fees due"),
    }
}

fn rejection_members(error: &AccountError) -> Value {
    match error {
        AccountError::CurrencyMismatch { account, requested } => {
            json!({ "account_currency": account, "requested_currency": requested })
        }
        AccountError::InsufficientFunds { available, requested } => {
            json!({ "available": available, "requested": requested })
        }
        AccountError::DailyLimitExceeded {
            limit,
            withdrawn_today,
            requested,
        } => json!({ "limit": limit, "withdrawn_today": withdrawn_today, "requested": requested }),
        AccountError::NonZeroBalance { balance } => json!({ "balance": balance }),
        AccountError::TransferIdReused(id) | AccountError::TransferNotFound(id) => {
            json!({ "transfer_id": id })
        }
        AccountError::TransactionNotFound(id) | AccountError::AlreadyReversed(id) => {
            json!({ "transaction_id": id })
        }
        AccountError::ReversalWindowClosed {
            transaction_id,
            deadline,
        } => json!({ "transaction_id": transaction_id, "deadline": deadline }),
        AccountError::HoldNotFound(id) | AccountError::HoldIdReused(id) => json!({ "hold_id": id }),
        AccountError::HoldNotOpen { hold_id, status } => json!({ "hold_id": hold_id, "hold_status": status }),
        AccountError::CaptureExceedsHold { held, requested } => {
            json!({ "held": held, "requested": requested })
        }
        AccountError::HoldNotDue { hold_id, expires_at } => {
            json!({ "hold_id": hold_id, "expires_at": expires_at })
        }
        _ => json!({}),
    }
}

/// `reason`, and for followers behind, each one's `name`, `position` and `lag`.
fn not_ready_members(not_ready: &crate::readiness::NotReady) -> Value {
    use crate::readiness::NotReady;
    match not_ready {
        NotReady::FollowersBehind { lagging, max_lag } => json!({
            "reason": not_ready.reason(),
            "max_lag": max_lag,
            "followers": lagging.iter().map(|behind| json!({
                "name": behind.follower,
                "position": behind.checkpoint,
                "head": behind.head,
                "lag": behind.lag(),
            })).collect::<Vec<_>>(),
        }),
        NotReady::MigrationsMissing { missing } => {
            json!({ "reason": not_ready.reason(), "missing_migrations": missing })
        }
        NotReady::DatabaseUnreachable(_) => json!({ "reason": not_ready.reason() }),
    }
}

fn status_kind(status: StatusCode) -> (StatusCode, &'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => (status, "not-found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => (status, "method-not-allowed", "Method not allowed"),
        StatusCode::REQUEST_TIMEOUT => (status, "request-timeout", "Request timed out"),
        StatusCode::PAYLOAD_TOO_LARGE => (status, "payload-too-large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (status, "unsupported-media-type", "Unsupported media type"),
        status if status.is_server_error() => (status, "internal-error", "Internal server error"),
        status => (status, "request-error", "Request error"),
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::AccountNotFound(id) => ApiError::AccountNotFound(id),
            CommandError::IdInUse(id) => ApiError::IdInUse(id),
            CommandError::Rejected(rejection) => ApiError::Rejected(rejection),
            CommandError::PreconditionFailed { required, actual } => {
                ApiError::PreconditionFailed { required, actual }
            }
            error @ CommandError::Conflict { .. } => ApiError::Conflict(error.to_string()),
            CommandError::Replayed(recorded) => ApiError::Replayed(recorded),
            // Only settlements meet it, and no request settles a transfer.
            error @ CommandError::TransferSettledOtherwise(_) => ApiError::Internal(Box::new(error)),
            CommandError::IdempotencyKeyReused { key } => ApiError::IdempotencyKeyReused { key },
            CommandError::OutcomeUnknown(error) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&error), "command outcome unknown");
                ApiError::OutcomeUnknown
            }
            CommandError::Store(error) => error.into(),
            CommandError::Encoding(error) => ApiError::Internal(Box::new(error)),
        }
    }
}

impl From<crate::privacy::KeyringError> for ApiError {
    fn from(error: crate::privacy::KeyringError) -> Self {
        use crate::privacy::KeyringError;
        match error {
            KeyringError::Erased(owner) => ApiError::PersonalDataErased(owner),
            KeyringError::Database(error) => ApiError::StorageUnavailable(StoreError::Database(error)),
            // The service was started with the wrong master key, or a stored key was altered:
            // logged with its cause, answered as what it is, the server's fault.
            error => ApiError::Internal(Box::new(error)),
        }
    }
}

impl From<crate::integration::subscriptions::SubscriptionError> for ApiError {
    fn from(error: crate::integration::subscriptions::SubscriptionError) -> Self {
        use crate::integration::subscriptions::SubscriptionError;
        match error {
            SubscriptionError::Database(error) => ApiError::StorageUnavailable(StoreError::Database(error)),
            SubscriptionError::KeyReused { key } => ApiError::IdempotencyKeyReused { key },
            // No randomness for a secret, or a stored row that does not read back: the server's fault.
            error => ApiError::Internal(Box::new(error)),
        }
    }
}

impl From<crate::projection::QueryError> for ApiError {
    fn from(error: crate::projection::QueryError) -> Self {
        match error {
            crate::projection::QueryError::Store(error) => error.into(),
            crate::projection::QueryError::Database(error) => {
                ApiError::StorageUnavailable(StoreError::Database(error))
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            // Nothing was written: a retry is safe.
            StoreError::Database(_) | StoreError::NotWritten(_) | StoreError::Closed => {
                ApiError::StorageUnavailable(error)
            }
            error if error.outcome_is_unknown() => {
                tracing::warn!(error = %crate::telemetry::error_chain(&error), "write outcome unknown");
                ApiError::OutcomeUnknown
            }
            StoreError::IdInUse { stream_id, .. } => ApiError::IdInUse(stream_id),
            error => ApiError::Internal(Box::new(error)),
        }
    }
}

/// Logs an error with its whole `source()` chain.
fn log_with_sources(error: &(dyn std::error::Error + 'static)) {
    tracing::error!(error = %crate::telemetry::error_chain(error), "request failed");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Replayed(recorded) = &self {
            return crate::http::recorded::replay(recorded);
        }
        if matches!(self, ApiError::Internal(_) | ApiError::StorageUnavailable(_)) {
            log_with_sources(&self);
        }
        let problem = self.to_problem();
        let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::RateLimited { retry_after_seconds } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_seconds.max(1)));
        }
        response
    }
}

/// Middleware: turns any error response that is not already a problem (an unknown route, a
/// wrong method, a time-out or body limit from a tower layer) into one, so clients only ever
/// parse one error format.
pub async fn ensure_problem_body<B>(response: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response.map(axum::body::Body::new);
    }
    let detail = status.canonical_reason().unwrap_or("request failed").to_owned();
    let (mut parts, _) = response.into_parts();
    let mut problem = ApiError::Status(status, detail).into_response();
    // Keep headers such as `Allow` on a 405, but describe the new body.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    std::mem::swap(problem.headers_mut(), &mut parts.headers);
    problem
}
