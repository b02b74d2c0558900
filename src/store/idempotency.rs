//! Responses recorded with the events they answer, for `Idempotency-Key`.
//!
//! A client that retries a request (after a time-out, a dropped connection, an answer it could
//! not read) must not move money twice. The store records the response to each keyed request
//! in the same transaction as the request's events: a retry then finds the recorded response,
//! or finds nothing because nothing was written. The HTTP layer decides what a response is;
//! the store only keeps it (see `crate::http::idempotency`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::store::Appended;

/// Renders the response once the append's version and positions are known, inside the
/// transaction that writes it.
pub type ResponseToRecord = Box<dyn FnOnce(&Appended) -> RecordedResponse + Send + Sync>;

/// An idempotency key and the request it names, to record with an append.
pub struct IdempotencyRecord {
    /// Whose key it is: keys of different callers never collide.
    pub scope: String,
    pub key: String,
    /// A digest of the request (method, path, body): the same key with another request is an
    /// error, not a replay.
    pub fingerprint: String,
    pub response: ResponseToRecord,
}

impl std::fmt::Debug for IdempotencyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotencyRecord")
            .field("scope", &self.scope)
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// A response as recorded for its idempotency key.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RecordedResponse {
    pub fingerprint: String,
    pub status: i32,
    #[sqlx(json)]
    pub body: Value,
    pub etag: Option<String>,
    pub location: Option<String>,
    #[sqlx(try_from = "crate::db::Stored<DateTime<Utc>>")]
    pub recorded_at: DateTime<Utc>,
}
