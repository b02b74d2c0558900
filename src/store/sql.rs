//! The event store on a SQL database, PostgreSQL or SQLite: one statement each, written once.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, query};
use crate::store::{Appended, EventStore, NewEvent, RecordedEvent, Snapshot, StoreError};

#[derive(Debug, Clone)]
pub struct SqlEventStore {
    database: Database,
}

impl SqlEventStore {
    pub fn new(database: Database) -> Self {
        SqlEventStore { database }
    }
}

const SELECT_EVENTS: &str = "SELECT global_position, stream_type, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, metadata, occurred_at, recorded_at FROM events";

/// Keeps the newest snapshot: an older one (from a slower writer) never replaces it.
const SAVE_SNAPSHOT: &str = "INSERT INTO snapshots \
    (stream_id, stream_type, version, position, schema_version, state, taken_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream_id) DO UPDATE SET \
    version = excluded.version, position = excluded.position, schema_version = excluded.schema_version, \
    state = excluded.state, taken_at = excluded.taken_at \
    WHERE snapshots.version < excluded.version OR snapshots.schema_version <> excluded.schema_version";

#[async_trait::async_trait]
impl EventStore for SqlEventStore {
    async fn append(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        expected_version: i64,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let mut tx = self.database.begin_write().await?;
        tx.lock_log().await?;

        let actual: i64 = query("SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = $1")
            .bind(stream_id)
            .fetch_scalar(&mut tx)
            .await?;
        if actual != expected_version {
            return Err(StoreError::Conflict {
                stream_id,
                expected: expected_version,
                actual,
            });
        }
        let head: i64 = query("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_scalar(&mut tx)
            .await?;

        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let recorded_at = Utc::now();
        let mut insert = query(
            "INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id, \
             event_type, schema_version, payload, metadata, occurred_at, recorded_at) VALUES ",
        );
        for (offset, event) in (1_i64..).zip(events) {
            if offset > 1 {
                insert = insert.push(", ");
            }
            insert = insert
                .push("(")
                .push_bind(head + offset)
                .push(", ")
                .push_bind(stream_type)
                .push(", ")
                .push_bind(stream_id)
                .push(", ")
                .push_bind(expected_version + offset)
                .push(", ")
                .push_bind(event.event_id)
                .push(", ")
                .push_bind(event.event_type)
                .push(", ")
                .push_bind(event.schema_version)
                .push(", ")
                .push_bind(event.payload)
                .push(", ")
                .push_bind(event.metadata)
                .push(", ")
                .push_bind(event.occurred_at)
                .push(", ")
                .push_bind(recorded_at)
                .push(")");
        }
        insert.execute(&mut tx).await.map_err(|error| {
            // Unreachable while every writer takes the lock, but a writer that bypasses it is
            // still stopped by the unique constraint: report that as the conflict it is.
            if error.as_database_error().is_some_and(|e| e.is_unique_violation()) {
                StoreError::Conflict {
                    stream_id,
                    expected: expected_version,
                    actual: expected_version + 1,
                }
            } else {
                StoreError::Database(error)
            }
        })?;
        tx.commit().await?;

        Ok(Appended {
            stream_version: expected_version + count,
            first_position: head + 1,
            last_position: head + count,
        })
    }

    async fn read_stream(
        &self,
        stream_id: Uuid,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut select = query(SELECT_EVENTS)
            .push(" WHERE stream_id = ")
            .push_bind(stream_id);
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
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(query(format!(
            "{SELECT_EVENTS} WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version"
        ))
        .bind(stream_id)
        .bind(version)
        .fetch_all(&self.database)
        .await?)
    }

    async fn load_snapshot(&self, stream_id: Uuid) -> Result<Option<Snapshot>, StoreError> {
        Ok(query(
            "SELECT stream_type, stream_id, version, position, schema_version, state, taken_at \
             FROM snapshots WHERE stream_id = $1",
        )
        .bind(stream_id)
        .fetch_optional(&self.database)
        .await?)
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let save = query(SAVE_SNAPSHOT)
            .bind(snapshot.stream_id)
            .bind(snapshot.stream_type.as_str())
            .bind(snapshot.version)
            .bind(snapshot.position)
            .bind(snapshot.schema_version)
            .bind(&snapshot.state)
            .bind(snapshot.taken_at);
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

    async fn head_position(&self) -> Result<i64, StoreError> {
        Ok(query("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_scalar(&self.database)
            .await?)
    }
}
