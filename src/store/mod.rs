//! The event store: the append-only log every other part of the service derives from.
//!
//! [`EventStore`] is the port; [`postgres::PostgresEventStore`] and [`sqlite::SqliteEventStore`]
//! are its adapters, chosen at start-up from `DATABASE_URL` by [`event_store`]. This module knows
//! nothing of accounts: it stores typed envelopes around JSON payloads. Turning domain events into
//! payloads and back (including upcasting old schema versions) is [`codec`]'s job.
//!
//! # Guarantees every adapter gives
//! - **Optimistic concurrency per stream.** An append states the version it expects the stream to
//!   be at; if another writer got there first the append fails with [`StoreError::Conflict`] and
//!   writes nothing.
//! - **A gap-free global order that followers can trust.** `global_position` is 1, 2, 3 ... with
//!   no holes, and a position becomes visible only after every smaller one is visible. A
//!   projector that reads `global_position > checkpoint` therefore never skips an event, even
//!   while appends run concurrently. Each adapter documents how it achieves this.
//! - **Append-only.** The database itself rejects UPDATE and DELETE on `events` (triggers in the
//!   migrations), so not even a bug or a hand-typed SQL statement can rewrite history.

pub mod codec;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::db::Database;

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

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub global_position: i64,
    pub stream_type: String,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub metadata: Value,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// The folded state of a stream at a version (see `migrations/*/0004_snapshots.sql`).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub stream_type: String,
    pub stream_id: Uuid,
    /// The version of the last event folded into `state`.
    pub version: i64,
    pub position: i64,
    pub schema_version: i32,
    pub state: Value,
    pub taken_at: DateTime<Utc>,
}

/// Keeps the newest snapshot: an older one (from a slower writer) never replaces it.
pub(crate) const SAVE_SNAPSHOT: &str = "INSERT INTO snapshots \
    (stream_id, stream_type, version, position, schema_version, state, taken_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream_id) DO UPDATE SET \
    version = excluded.version, position = excluded.position, schema_version = excluded.schema_version, \
    state = excluded.state, taken_at = excluded.taken_at \
    WHERE snapshots.version < excluded.version OR snapshots.schema_version <> excluded.schema_version";

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
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// The port the command side writes through and the read side follows.
#[async_trait::async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Appends `events` to a stream that must currently be at `expected_version` (0 for a new
    /// stream). All or nothing: on any error no event is stored.
    async fn append(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        expected_version: i64,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError>;

    /// The events of one stream in version order, optionally only those that occurred at or
    /// before `until` (time travel).
    async fn read_stream(
        &self,
        stream_id: Uuid,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events of one stream after `version`, in version order (what a snapshot lacks).
    async fn read_stream_after(
        &self,
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The latest snapshot of a stream, if one was taken.
    async fn load_snapshot(&self, stream_id: Uuid) -> Result<Option<Snapshot>, StoreError>;

    /// Stores a snapshot unless a newer one is already stored.
    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// Up to `limit` events of the whole log with `global_position > after`, in position order.
    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the last event in the log (0 when empty).
    async fn head_position(&self) -> Result<i64, StoreError>;
}

/// The adapter for the connected backend.
pub fn event_store(database: &Database) -> Arc<dyn EventStore> {
    match database {
        Database::Postgres(pool) => Arc::new(postgres::PostgresEventStore::new(pool.clone())),
        Database::Sqlite(sqlite) => Arc::new(sqlite::SqliteEventStore::new(sqlite.clone())),
    }
}
