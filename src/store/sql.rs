//! The event store on a SQL database, PostgreSQL or SQLite: one statement each, written once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, query};
use crate::metrics::Metrics;
use crate::store::group_commit::{Committer, StoreFaults, save_snapshot_statement};
use crate::store::{
    Append, Appended, EventStore, Latest, RecordedEvent, RecordedResponse, Snapshot, SnapshotState,
    StoreError, UndecodedEvent,
};

#[derive(Debug, Clone)]
pub struct SqlEventStore {
    database: Database,
    committer: Committer,
}

impl SqlEventStore {
    /// The store on `database`, with its committer task (see [`crate::store`]'s group commit).
    pub fn new(database: Database, faults: Arc<StoreFaults>, metrics: Metrics) -> Self {
        SqlEventStore {
            committer: Committer::start(database.clone(), faults, metrics),
            database,
        }
    }
}

pub(crate) const SELECT_EVENTS: &str = "SELECT global_position, stream_type, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, metadata, occurred_at, recorded_at FROM events";

/// Deletes every snapshot; answers how many there were.
///
/// Always safe: a snapshot is a cache of the fold, never a source of truth. Each stream's next
/// load replays its events, and a later append takes a new snapshot. This is how the fold of a
/// bug fixed in `evolve` leaves the database when `STATE_SCHEMA_VERSION` was not bumped
/// (`foldbank snapshots clear`, and `foldbank rebuild all`). A running service also holds
/// states in its in-process cache, which only a restart empties.
pub async fn clear_snapshots(database: &Database) -> Result<u64, sqlx::Error> {
    database.execute_write(query("DELETE FROM snapshots")).await
}

/// The `event_type` [`EventStore::load_latest`] gives the row that carries the snapshot.
const SNAPSHOT_ROW: &str = "(snapshot)";

/// The latest snapshot of a shape and the events after it, as one list of event-shaped rows:
/// the snapshot (if any) comes first, dressed as an event whose payload is the state.
fn load_latest_sql() -> String {
    format!(
        "SELECT s.position AS global_position, s.stream_type, s.stream_id, s.version AS stream_version, \
         s.stream_id AS event_id, '{SNAPSHOT_ROW}' AS event_type, s.schema_version, s.state AS payload, \
         s.state AS metadata, s.taken_at AS occurred_at, s.taken_at AS recorded_at \
         FROM snapshots s WHERE s.stream_id = $1 AND s.stream_type = $3 AND s.schema_version = $2 \
         UNION ALL \
         {SELECT_EVENTS} WHERE stream_id = $1 AND stream_type = $3 AND stream_version > COALESCE(\
         (SELECT version FROM snapshots WHERE stream_id = $1 AND stream_type = $3 AND schema_version = $2), 0) \
         ORDER BY stream_version"
    )
}

#[async_trait::async_trait]
impl EventStore for SqlEventStore {
    async fn append(&self, append: Append) -> Result<Appended, StoreError> {
        self.committer.append(append).await
    }

    async fn load_latest(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        schema_version: i32,
    ) -> Result<Latest, StoreError> {
        let mut rows: Vec<RecordedEvent> = query(load_latest_sql())
            .bind(stream_id)
            .bind(schema_version)
            .bind(stream_type)
            .fetch_all(&self.database)
            .await?;
        let snapshot = match rows.first() {
            Some(row) if row.event_type == SNAPSHOT_ROW => {
                let row = rows.remove(0);
                Some(Snapshot {
                    stream_type: row.stream_type,
                    stream_id: row.stream_id,
                    version: row.stream_version,
                    position: row.global_position,
                    schema_version: row.schema_version,
                    state: row.payload,
                    taken_at: row.occurred_at,
                })
            }
            _ => None,
        };
        Ok(Latest {
            snapshot,
            events: rows,
        })
    }

    async fn read_movement(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        transaction_id: Uuid,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        // Two probes, one per expression index (see the migrations): the movement itself and a
        // reversal of it name it `transaction_id`; a reversal names itself `reversal_id`.
        let id = transaction_id.hyphenated().to_string();
        Ok(query(format!(
            "{SELECT_EVENTS} WHERE stream_id = $1 AND stream_type = $3 AND payload->>'transaction_id' = $2 \
             UNION ALL {SELECT_EVENTS} WHERE stream_id = $1 AND stream_type = $3 AND payload->>'reversal_id' = $2 \
             ORDER BY stream_version"
        ))
        .bind(stream_id)
        .bind(id)
        .bind(stream_type)
        .fetch_all(&self.database)
        .await?)
    }

    async fn recorded_response(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<RecordedResponse>, StoreError> {
        Ok(query(
            "SELECT fingerprint, status, body, etag, location, recorded_at FROM idempotency_keys \
             WHERE scope = $1 AND key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(&self.database)
        .await?)
    }

    async fn forget_responses(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self
            .database
            .execute_write(query("DELETE FROM idempotency_keys WHERE recorded_at < $1").bind(before))
            .await?)
    }

    async fn read_stream(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut select = query(SELECT_EVENTS)
            .push(" WHERE stream_id = ")
            .push_bind(stream_id)
            .push(" AND stream_type = ")
            .push_bind(stream_type);
        if let Some(until) = until {
            select = select.push(" AND occurred_at <= ").push_bind(until);
        }
        Ok(select
            .push(" ORDER BY stream_version")
            .fetch_all(&self.database)
            .await?)
    }

    async fn read_stream_after(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(query(format!(
            "{SELECT_EVENTS} WHERE stream_id = $1 AND stream_type = $3 AND stream_version > $2 \
             ORDER BY stream_version"
        ))
        .bind(stream_id)
        .bind(version)
        .bind(stream_type)
        .fetch_all(&self.database)
        .await?)
    }

    async fn read_stream_page(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(query(format!(
            "{SELECT_EVENTS} WHERE stream_id = $1 AND stream_type = $4 AND stream_version > $2 \
             ORDER BY stream_version LIMIT $3"
        ))
        .bind(stream_id)
        .bind(after)
        .bind(limit)
        .bind(stream_type)
        .fetch_all(&self.database)
        .await?)
    }

    async fn load_snapshot(
        &self,
        stream_type: &str,
        stream_id: Uuid,
    ) -> Result<Option<Snapshot>, StoreError> {
        Ok(query(
            "SELECT stream_type, stream_id, version, position, schema_version, state, taken_at \
             FROM snapshots WHERE stream_id = $1 AND stream_type = $2",
        )
        .bind(stream_id)
        .bind(stream_type)
        .fetch_optional(&self.database)
        .await?)
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let state = SnapshotState {
            schema_version: snapshot.schema_version,
            state: snapshot.state.clone(),
            taken_at: snapshot.taken_at,
        };
        let save = save_snapshot_statement(
            snapshot.stream_id,
            &snapshot.stream_type,
            snapshot.version,
            snapshot.position,
            &state,
        );
        self.database.execute_write(save).await?;
        Ok(())
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(query(format!(
            "{SELECT_EVENTS} WHERE global_position > $1 ORDER BY global_position LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.database)
        .await?)
    }

    async fn read_replay(
        &self,
        stream_type: &str,
        after: i64,
        up_to: i64,
    ) -> Result<Vec<UndecodedEvent>, StoreError> {
        // The payload as text on both databases: PostgreSQL's JSONB comes out as its text
        // either way, and text is what the decoder reads without building a tree first.
        Ok(query(
            "SELECT global_position, stream_id, stream_version, event_id, event_type, schema_version, \
             CAST(payload AS TEXT) AS payload FROM events \
             WHERE global_position > $1 AND global_position <= $2 AND stream_type = $3 \
             ORDER BY global_position",
        )
        .bind(after)
        .bind(up_to)
        .bind(stream_type)
        .fetch_all(&self.database)
        .await?)
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        Ok(query("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_scalar(&self.database)
            .await?)
    }
}
