//! The event store: the append-only log every other part of the service derives from.
//!
//! [`EventStore`] is the port the command side writes through and the read side follows;
//! [`sql::SqlEventStore`] is its adapter for both databases (the few differences, such as how
//! appends are serialized, live in [`crate::db`]). Tests and decorators such as the projector's
//! waking store plug in behind the same port. This module knows nothing of accounts: it stores
//! typed envelopes around JSON payloads. Turning domain events into payloads and back
//! (including upcasting old schema versions) is [`codec`]'s job.
//!
//! # Guarantees every adapter gives
//! - **Optimistic concurrency per stream.** An append states the version it expects the stream to
//!   be at; if another writer got there first the append fails with [`StoreError::Conflict`] and
//!   writes nothing.
//! - **A gap-free global order that followers can trust.** `global_position` is 1, 2, 3 ... with
//!   no holes, and a position becomes visible only after every smaller one is visible. A
//!   projector that reads `global_position > checkpoint` therefore never skips an event, even
//!   while appends run concurrently.
//!
//!   A sequence (`BIGSERIAL`) is *not* enough: sequence values are handed out before commit, so
//!   transaction A can take position 7, transaction B position 8, and B can commit first. A
//!   projector that sees 8 and moves its checkpoint past 7 would skip A's event forever.
//!   Instead every append locks the log for its transaction ([`crate::db::Transaction::lock_log`]:
//!   an advisory lock on PostgreSQL, SQLite's single write lock), reads the head and assigns the
//!   next positions. Appends therefore commit one at a time in position order, and the next
//!   appender reads the head only after the previous one committed. Reads never take the lock.
//! - **Append-only.** The database itself rejects UPDATE and DELETE on `events` (triggers in the
//!   migrations), so not even a bug or a hand-typed SQL statement can rewrite history.
//! - **Group commit.** Appends that arrive while a commit is in flight are written together in
//!   the next transaction ([`group_commit`]): one lock, one read of the heads, one insert, one
//!   commit for the whole batch. Each append's expected version is still checked on its own, so
//!   a conflicting append fails alone, never its batch-mates.
//! - **Idempotent requests.** An append may carry an [`IdempotencyRecord`]: the response to the
//!   request that caused it, stored in the same transaction as its events, so a retried request
//!   finds either both or neither.

pub mod chain;
pub mod codec;
pub mod group_commit;
mod idempotency;
pub mod sql;

pub use group_commit::StoreFaults;
pub use idempotency::{IdempotencyRecord, RecordedResponse, ResponseToRecord};
pub use sql::clear_snapshots;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::db::{Database, Stored};
use crate::metrics::Metrics;

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub metadata: Value,
    pub occurred_at: DateTime<Utc>,
}

/// Where an event lies, in the log and in its stream: all a read model needs of a stored event
/// besides the event itself (a replay reads no more than this and the payload, see
/// [`EventStore::read_replay`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPlace {
    pub global_position: i64,
    pub stream_id: Uuid,
    pub stream_version: i64,
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RecordedEvent {
    pub global_position: i64,
    pub stream_type: String,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub stream_id: Uuid,
    pub stream_version: i64,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    #[sqlx(json)]
    pub payload: Value,
    #[sqlx(json)]
    pub metadata: Value,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub occurred_at: DateTime<Utc>,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub recorded_at: DateTime<Utc>,
}

/// An event as a replay reads it ([`EventStore::read_replay`]): where it lies, what decoding
/// needs, and its payload as the stored text, not yet parsed. No metadata and no times: a replay
/// of millions of events reads and decodes nothing its folds do not use.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UndecodedEvent {
    pub global_position: i64,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub stream_id: Uuid,
    pub stream_version: i64,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: String,
}

impl UndecodedEvent {
    /// Where it lies in the log and in its stream.
    pub fn place(&self) -> EventPlace {
        EventPlace {
            global_position: self.global_position,
            stream_id: self.stream_id,
            stream_version: self.stream_version,
        }
    }
}

impl RecordedEvent {
    /// Where it lies in the log and in its stream.
    pub fn place(&self) -> EventPlace {
        EventPlace {
            global_position: self.global_position,
            stream_id: self.stream_id,
            stream_version: self.stream_version,
        }
    }
}

/// The folded state of a stream at a version (see `migrations/*/0004_snapshots.sql`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Snapshot {
    pub stream_type: String,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub stream_id: Uuid,
    /// The version of the last event folded into `state`.
    pub version: i64,
    pub position: i64,
    pub schema_version: i32,
    #[sqlx(json)]
    pub state: Value,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub taken_at: DateTime<Utc>,
}

/// What a command asks the store to write: events on one stream or on several, all or nothing.
///
/// A decision that two aggregates must agree on (a transfer's record beside an account's
/// event) is one append of two streams, each at its expected version: it is recorded once,
/// or not at all.
#[derive(Debug)]
pub struct Append {
    /// The streams written. The first is the command's own: [`Appended`] reports its version
    /// and positions, and [`snapshot`](Append::snapshot) is its state.
    pub streams: Vec<StreamAppend>,
    /// The response to the request that caused this append, recorded with its events.
    pub idempotency: Option<IdempotencyRecord>,
    /// The first stream's folded state after these events, stored as its snapshot in the same
    /// transaction (its version and position are the append's).
    pub snapshot: Option<SnapshotState>,
}

/// Events for one stream of an [`Append`].
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAppend {
    pub stream_type: String,
    pub stream_id: Uuid,
    /// The version the stream must be at (0 for a new stream), or the append conflicts.
    pub expected_version: i64,
    pub events: Vec<NewEvent>,
}

impl Append {
    /// Events for one stream.
    pub fn new(stream_type: &str, stream_id: Uuid, expected_version: i64, events: Vec<NewEvent>) -> Self {
        Append {
            streams: vec![StreamAppend {
                stream_type: stream_type.to_owned(),
                stream_id,
                expected_version,
                events,
            }],
            idempotency: None,
            snapshot: None,
        }
    }

    /// The same append, with `other` written in the same transaction.
    pub fn and(mut self, other: StreamAppend) -> Self {
        self.streams.push(other);
        self
    }

    /// How many events the append writes, on every stream.
    pub fn event_count(&self) -> usize {
        self.streams.iter().map(|stream| stream.events.len()).sum()
    }
}

/// A snapshot's content, before the append that it follows has a position.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotState {
    pub schema_version: i32,
    pub state: Value,
    pub taken_at: DateTime<Utc>,
}

/// A stream's latest snapshot (of the requested shape) and the events after it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Latest {
    pub snapshot: Option<Snapshot>,
    pub events: Vec<RecordedEvent>,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the append (the version of its last new event).
    pub stream_version: i64,
    /// The global position of the first appended event.
    pub first_position: i64,
    /// The global position of the last appended event.
    pub last_position: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream {stream_id} is not at the expected version {expected} (it is at {actual})")]
    Conflict {
        stream_id: Uuid,
        expected: i64,
        actual: i64,
    },
    /// The id already names a stream of another type: an id belongs to one stream type for
    /// good.
    #[error("id {stream_id} already names a {existing_type} stream, not a {requested_type} stream")]
    IdInUse {
        stream_id: Uuid,
        existing_type: String,
        requested_type: String,
    },
    #[error("an append needs at least one event")]
    EmptyAppend,
    #[error("stored event {event_id} cannot be decoded as {event_type} v{schema_version}")]
    Undecodable {
        event_id: Uuid,
        event_type: String,
        schema_version: i32,
        #[source]
        source: serde_json::Error,
    },
    /// The request was already answered: here is the recorded response (compare its
    /// fingerprint before returning it).
    #[error("the request with this idempotency key was already answered")]
    AlreadyAnswered(Box<RecordedResponse>),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The append's transaction failed before it committed: nothing was written.
    #[error("the append was not written")]
    NotWritten(#[source] Arc<sqlx::Error>),
    /// The append's commit failed or was not confirmed: it may or may not be in the log.
    #[error("the append's commit was not confirmed; it may or may not be in the log")]
    OutcomeUnknown(#[source] Arc<sqlx::Error>),
    /// The store was closed before it took the append: nothing was written.
    #[error("the event store is shutting down")]
    Closed,
    /// The committer stopped with the append in hand, before or after its commit: it may or
    /// may not be in the log.
    #[error("the committer stopped before it answered; the append may or may not be in the log")]
    Abandoned,
}

impl StoreError {
    /// Whether the append may have been written although it failed: a retry must then be one
    /// that cannot apply twice (the same `Idempotency-Key`), never a blind one.
    pub fn outcome_is_unknown(&self) -> bool {
        matches!(self, StoreError::OutcomeUnknown(_) | StoreError::Abandoned)
    }
}

/// The port the command side writes through and the read side follows.
///
/// Every read of a stream names the stream's type as well as its id: an id belongs to one
/// stream type for good, and a read under another type finds nothing.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Appends events to a stream that must currently be at the append's expected version.
    /// All or nothing: on any error but [`StoreError::OutcomeUnknown`] no event is stored.
    async fn append(&self, append: Append) -> Result<Appended, StoreError>;

    /// The latest snapshot of `schema_version` and the events after it, in one read.
    async fn load_latest(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        schema_version: i32,
    ) -> Result<Latest, StoreError>;

    /// The events of a stream that name `transaction_id` as their movement (or as the movement
    /// they reverse, or as their own reversal id): what a reversal needs to know about it.
    async fn read_movement(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        transaction_id: Uuid,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The response recorded for an idempotency key, if any.
    async fn recorded_response(&self, scope: &str, key: &str)
    -> Result<Option<RecordedResponse>, StoreError>;

    /// Deletes the responses recorded before `before`; answers how many.
    async fn forget_responses(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// The events of one stream in version order, optionally only those that occurred at or
    /// before `until` (time travel).
    async fn read_stream(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events of one stream after `version`, in version order (what a snapshot lacks).
    async fn read_stream_after(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Up to `limit` events of one stream with `stream_version > after`, in version order: a
    /// page of its history.
    async fn read_stream_page(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The latest snapshot of a stream, if one was taken.
    async fn load_snapshot(&self, stream_type: &str, stream_id: Uuid)
    -> Result<Option<Snapshot>, StoreError>;

    /// Stores a snapshot unless a newer one is already stored.
    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// Up to `limit` events of the whole log with `global_position > after`, in position order.
    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events of streams of `stream_type` with `after < global_position <= up_to`, in
    /// position order, as a replay needs them ([`UndecodedEvent`]): a rebuild's or a verify's
    /// page of the log, with the other streams' events left in the database.
    async fn read_replay(
        &self,
        stream_type: &str,
        after: i64,
        up_to: i64,
    ) -> Result<Vec<UndecodedEvent>, StoreError>;

    /// The position of the last event in the log (0 when empty).
    async fn head_position(&self) -> Result<i64, StoreError>;
}

/// The event store on `database`.
pub fn event_store(database: &Database) -> Arc<dyn EventStore> {
    event_store_with_faults(database, Arc::default())
}

/// The event store on `database`, with test hooks on its append path.
pub fn event_store_with_faults(database: &Database, faults: Arc<StoreFaults>) -> Arc<dyn EventStore> {
    observed_event_store(database, faults, Metrics::disabled())
}

/// The event store on `database`, with test hooks, reporting its commits to `metrics`.
pub fn observed_event_store(
    database: &Database,
    faults: Arc<StoreFaults>,
    metrics: Metrics,
) -> Arc<dyn EventStore> {
    Arc::new(sql::SqlEventStore::new(database.clone(), faults, metrics))
}
