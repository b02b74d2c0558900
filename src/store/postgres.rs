//! The PostgreSQL adapter of the event store.
//!
//! # How positions stay gap-free
//! A `BIGSERIAL`/sequence is *not* enough: sequence values are handed out before commit, so
//! transaction A can take position 7, transaction B position 8, and B can commit first. A
//! projector that sees 8 and moves its checkpoint past 7 would skip A's event forever.
//!
//! Instead every append takes one database-wide, transaction-scoped advisory lock
//! (`pg_advisory_xact_lock`) before it reads the head of the log and assigns positions. The lock
//! is held until commit, so appends commit one at a time in position order, and the next
//! appender reads the head only after the previous one committed: positions are contiguous and
//! become visible in order. The price is that appends are serialized database-wide (each costs
//! one short transaction); reads never take the lock.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::store::{Appended, EventStore, NewEvent, RecordedEvent, SAVE_SNAPSHOT, Snapshot, StoreError};

/// The advisory lock key that serializes appends ("foldbank" in ASCII, as an i64).
const APPEND_LOCK_KEY: i64 = 0x666f_6c64_6261_6e6b;

#[derive(Debug, Clone)]
pub struct PostgresEventStore {
    pool: PgPool,
}

impl PostgresEventStore {
    pub fn new(pool: PgPool) -> Self {
        PostgresEventStore { pool }
    }
}

const SELECT_EVENTS: &str = "SELECT global_position, stream_type, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, metadata, occurred_at, recorded_at FROM events";

fn recorded_event(row: &sqlx::postgres::PgRow) -> Result<RecordedEvent, sqlx::Error> {
    Ok(RecordedEvent {
        global_position: row.try_get("global_position")?,
        stream_type: row.try_get("stream_type")?,
        stream_id: row.try_get("stream_id")?,
        stream_version: row.try_get("stream_version")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
        metadata: row.try_get::<Json<serde_json::Value>, _>("metadata")?.0,
        occurred_at: row.try_get("occurred_at")?,
        recorded_at: row.try_get("recorded_at")?,
    })
}

#[async_trait::async_trait]
impl EventStore for PostgresEventStore {
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
        // READ COMMITTED explicitly: each statement must see what committed before it started,
        // so the head read after the lock sees the previous appender's rows. Under REPEATABLE
        // READ (a possible server default) the snapshot would predate the lock.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(APPEND_LOCK_KEY)
            .execute(&mut *tx)
            .await?;

        let actual: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = $1")
                .bind(stream_id)
                .fetch_one(&mut *tx)
                .await?;
        if actual != expected_version {
            return Err(StoreError::Conflict {
                stream_id,
                expected: expected_version,
                actual,
            });
        }
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;

        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let recorded_at = Utc::now();
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id, \
             event_type, schema_version, payload, metadata, occurred_at, recorded_at) ",
        );
        insert.push_values(events.into_iter().zip(1_i64..), |mut row, (event, offset)| {
            row.push_bind(head + offset)
                .push_bind(stream_type)
                .push_bind(stream_id)
                .push_bind(expected_version + offset)
                .push_bind(event.event_id)
                .push_bind(event.event_type)
                .push_bind(event.schema_version)
                .push_bind(Json(event.payload))
                .push_bind(Json(event.metadata))
                .push_bind(event.occurred_at)
                .push_bind(recorded_at);
        });
        insert.build().execute(&mut *tx).await.map_err(|error| {
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
        let query = format!(
            "{SELECT_EVENTS} WHERE stream_id = $1 AND ($2::timestamptz IS NULL OR occurred_at <= $2) \
             ORDER BY stream_version"
        );
        let rows = sqlx::query(&query)
            .bind(stream_id)
            .bind(until)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(recorded_event).collect::<Result<_, _>>()?)
    }

    async fn read_stream_after(
        &self,
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let query =
            format!("{SELECT_EVENTS} WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version");
        let rows = sqlx::query(&query)
            .bind(stream_id)
            .bind(version)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(recorded_event).collect::<Result<_, _>>()?)
    }

    async fn load_snapshot(&self, stream_id: Uuid) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT stream_type, stream_id, version, position, schema_version, state, taken_at \
             FROM snapshots WHERE stream_id = $1",
        )
        .bind(stream_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Snapshot {
            stream_type: row.try_get("stream_type")?,
            stream_id: row.try_get("stream_id")?,
            version: row.try_get("version")?,
            position: row.try_get("position")?,
            schema_version: row.try_get("schema_version")?,
            state: row.try_get::<Json<serde_json::Value>, _>("state")?.0,
            taken_at: row.try_get("taken_at")?,
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        sqlx::query(SAVE_SNAPSHOT)
            .bind(snapshot.stream_id)
            .bind(&snapshot.stream_type)
            .bind(snapshot.version)
            .bind(snapshot.position)
            .bind(snapshot.schema_version)
            .bind(Json(&snapshot.state))
            .bind(snapshot.taken_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        let query = format!("{SELECT_EVENTS} WHERE global_position > $1 ORDER BY global_position LIMIT $2");
        let rows = sqlx::query(&query)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(recorded_event).collect::<Result<_, _>>()?)
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
