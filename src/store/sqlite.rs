//! The SQLite adapter of the event store.
//!
//! # How positions stay gap-free
//! SQLite has a single writer per database file. Every append opens its transaction with
//! `BEGIN IMMEDIATE`, which takes that write lock *before* reading the head of the log, so two
//! appends can never read the same head, and a reader never sees position `n + 1` before `n`:
//! the whole append becomes visible atomically at commit. Other processes using the same file
//! wait for the lock (busy timeout) instead of failing.
//!
//! Within this process writers also queue on an async mutex first ([`SqliteDatabase::begin_write`]).
//! Without it, waiting writers would poll SQLite's busy handler (sleeps of up to 100 ms) instead
//! of being woken the moment the lock frees.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::db::{SqliteDatabase, parse_sqlite_time, sqlite_time};
use crate::store::{Appended, EventStore, NewEvent, RecordedEvent, SAVE_SNAPSHOT, Snapshot, StoreError};

#[derive(Debug, Clone)]
pub struct SqliteEventStore {
    database: SqliteDatabase,
}

impl SqliteEventStore {
    pub fn new(database: SqliteDatabase) -> Self {
        SqliteEventStore { database }
    }
}

const SELECT_EVENTS: &str = "SELECT global_position, stream_type, stream_id, stream_version, event_id, \
     event_type, schema_version, payload, metadata, occurred_at, recorded_at FROM events";

fn parse_uuid(text: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

fn recorded_event(row: &sqlx::sqlite::SqliteRow) -> Result<RecordedEvent, sqlx::Error> {
    Ok(RecordedEvent {
        global_position: row.try_get("global_position")?,
        stream_type: row.try_get("stream_type")?,
        stream_id: parse_uuid(row.try_get("stream_id")?)?,
        stream_version: row.try_get("stream_version")?,
        event_id: parse_uuid(row.try_get("event_id")?)?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        payload: row.try_get::<Json<serde_json::Value>, _>("payload")?.0,
        metadata: row.try_get::<Json<serde_json::Value>, _>("metadata")?.0,
        occurred_at: parse_sqlite_time(row.try_get("occurred_at")?)?,
        recorded_at: parse_sqlite_time(row.try_get("recorded_at")?)?,
    })
}

#[async_trait::async_trait]
impl EventStore for SqliteEventStore {
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
        let mut write = self.database.begin_write().await?;
        let tx = &mut write.tx;
        let stream = stream_id.to_string();

        let actual: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = ?")
                .bind(&stream)
                .fetch_one(&mut **tx)
                .await?;
        if actual != expected_version {
            return Err(StoreError::Conflict {
                stream_id,
                expected: expected_version,
                actual,
            });
        }
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_one(&mut **tx)
            .await?;

        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let recorded_at = sqlite_time(Utc::now());
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id, \
             event_type, schema_version, payload, metadata, occurred_at, recorded_at) ",
        );
        insert.push_values(events.into_iter().zip(1_i64..), |mut row, (event, offset)| {
            row.push_bind(head + offset)
                .push_bind(stream_type.to_owned())
                .push_bind(stream.clone())
                .push_bind(expected_version + offset)
                .push_bind(event.event_id.to_string())
                .push_bind(event.event_type)
                .push_bind(event.schema_version)
                .push_bind(Json(event.payload))
                .push_bind(Json(event.metadata))
                .push_bind(sqlite_time(event.occurred_at))
                .push_bind(recorded_at.clone());
        });
        insert.build().execute(&mut **tx).await.map_err(|error| {
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
        write.commit().await?;

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
            "{SELECT_EVENTS} WHERE stream_id = ?1 AND (?2 IS NULL OR occurred_at <= ?2) ORDER BY stream_version"
        );
        let rows = sqlx::query(&query)
            .bind(stream_id.to_string())
            .bind(until.map(sqlite_time))
            .fetch_all(&self.database.pool)
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
            .bind(stream_id.to_string())
            .bind(version)
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows.iter().map(recorded_event).collect::<Result<_, _>>()?)
    }

    async fn load_snapshot(&self, stream_id: Uuid) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(
            "SELECT stream_type, stream_id, version, position, schema_version, state, taken_at \
             FROM snapshots WHERE stream_id = $1",
        )
        .bind(stream_id.to_string())
        .fetch_optional(&self.database.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Snapshot {
            stream_type: row.try_get("stream_type")?,
            stream_id: parse_uuid(row.try_get("stream_id")?)?,
            version: row.try_get("version")?,
            position: row.try_get("position")?,
            schema_version: row.try_get("schema_version")?,
            state: row.try_get::<Json<serde_json::Value>, _>("state")?.0,
            taken_at: parse_sqlite_time(row.try_get("taken_at")?)?,
        }))
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        let mut write = self.database.begin_write().await?;
        sqlx::query(SAVE_SNAPSHOT)
            .bind(snapshot.stream_id.to_string())
            .bind(&snapshot.stream_type)
            .bind(snapshot.version)
            .bind(snapshot.position)
            .bind(snapshot.schema_version)
            .bind(Json(&snapshot.state))
            .bind(sqlite_time(snapshot.taken_at))
            .execute(&mut *write.tx)
            .await?;
        write.commit().await?;
        Ok(())
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        let query = format!("{SELECT_EVENTS} WHERE global_position > ? ORDER BY global_position LIMIT ?");
        let rows = sqlx::query(&query)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.database.pool)
            .await?;
        Ok(rows.iter().map(recorded_event).collect::<Result<_, _>>()?)
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(global_position), 0) FROM events")
                .fetch_one(&self.database.pool)
                .await?,
        )
    }
}
