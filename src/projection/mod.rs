//! The read side's writer: projections that follow the event log into read tables.
//!
//! A projection is a fold of the log into a table shaped for queries
//! (`read_model = fold(project, empty, events)`). Each one runs as its own tokio task
//! ([`Projector`]) with its own checkpoint row, so each can be rebuilt alone:
//!
//! 1. read up to `batch_size` events after the checkpoint, in global order;
//! 2. apply them and move the checkpoint, in **one** transaction. Delivery is at-least-once
//!    (a crash before commit replays the batch), the effect exactly-once (each projection also
//!    skips events its rows already reflect);
//! 3. when there is nothing new, sleep until woken: right after an append in this process
//!    ([`WakingStore`]), by PostgreSQL `NOTIFY` from another process, or by the polling timer.
//!
//! A failing batch never takes the server down: the runner logs, records the error for
//! `GET /projections`, backs off and retries. This module reads the log through the
//! [`EventStore`] port and writes only its own tables.

pub mod balances;
pub(crate) mod runner;
mod status;
pub mod transactions;
pub mod transfers;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, SqliteConnection};
use uuid::Uuid;

use crate::domain::account::AccountEvent;
use crate::store::{Appended, EventStore, NewEvent, RecordedEvent, Snapshot, StoreError};

pub use runner::{Projector, ProjectorSettings};
pub use status::{Behind, ProjectionState, Projections};

/// Every projection this service maintains.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(balances::BalancesProjection),
        Arc::new(transactions::TransactionsProjection),
        Arc::new(transfers::TransfersProjection),
    ]
}

/// The names of [`all`] projections.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|projection| projection.name()).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("the checkpoint moved concurrently (another process applied this batch)")]
    CheckpointMoved,
    #[error("injected failure after {0} events of the batch")]
    Injected(i64),
    #[error("no projection named {0:?}")]
    Unknown(String),
}

/// One read model, written inside the projector's transaction.
///
/// `apply_*` receives every account event in global order and must be idempotent per event:
/// replaying an already applied event changes nothing.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + std::fmt::Debug {
    /// The checkpoint name, also the name of its main table.
    fn name(&self) -> &'static str;

    /// The tables this projection writes, emptied by a rebuild.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    async fn apply_postgres(
        &self,
        conn: &mut PgConnection,
        recorded: &RecordedEvent,
        event: &AccountEvent,
    ) -> Result<(), ProjectionError>;

    async fn apply_sqlite(
        &self,
        conn: &mut SqliteConnection,
        recorded: &RecordedEvent,
        event: &AccountEvent,
    ) -> Result<(), ProjectionError>;
}

/// Empties a projection's tables and rewinds its checkpoint to 0, in one transaction, so the
/// projector rebuilds it from the whole log: how a read model recovers from a bug in its code
/// (fix the bug, deploy, rebuild). Safe while the service runs: its projector sees the rewound
/// checkpoint at its next batch.
pub async fn rebuild(database: &crate::db::Database, name: &str) -> Result<(), ProjectionError> {
    let projection = all()
        .into_iter()
        .find(|projection| projection.name() == name)
        .ok_or_else(|| ProjectionError::Unknown(name.to_owned()))?;
    const REWIND: &str = "UPDATE projection_checkpoints SET position = 0 WHERE name = $1";
    match database {
        crate::db::Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            for table in projection.tables() {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(REWIND).bind(name).execute(&mut *tx).await?;
            tx.commit().await?;
        }
        crate::db::Database::Sqlite(sqlite) => {
            let mut write = sqlite.begin_write().await?;
            for table in projection.tables() {
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(&mut *write.tx)
                    .await?;
            }
            sqlx::query(REWIND).bind(name).execute(&mut *write.tx).await?;
            write.commit().await?;
        }
    }
    Ok(())
}

pub(crate) fn parse_uuid(text: &str) -> Result<Uuid, sqlx::Error> {
    Uuid::parse_str(text).map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

/// An [`EventStore`] that wakes the projectors after every successful append, so read models
/// follow writes within milliseconds instead of a polling interval.
#[derive(Debug)]
pub struct WakingStore {
    inner: Arc<dyn EventStore>,
    projections: Projections,
}

impl WakingStore {
    pub fn new(inner: Arc<dyn EventStore>, projections: Projections) -> Self {
        WakingStore { inner, projections }
    }
}

#[async_trait::async_trait]
impl EventStore for WakingStore {
    async fn append(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        expected_version: i64,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let appended = self
            .inner
            .append(stream_type, stream_id, expected_version, events)
            .await?;
        self.projections.announce_head(appended.last_position);
        Ok(appended)
    }

    async fn read_stream(
        &self,
        stream_id: Uuid,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id, until).await
    }

    async fn read_stream_after(
        &self,
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream_after(stream_id, version).await
    }

    async fn load_snapshot(&self, stream_id: Uuid) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream_id).await
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        self.inner.head_position().await
    }
}

/// Makes batches fail after applying a given number of their events, before commit.
///
/// A test hook for the exactly-once guarantee; disarmed (and free) in normal operation.
#[derive(Debug)]
pub struct FaultInjector {
    fail_after: AtomicI64,
}

impl Default for FaultInjector {
    fn default() -> Self {
        FaultInjector {
            fail_after: AtomicI64::new(-1),
        }
    }
}

impl FaultInjector {
    /// From now on, every batch fails after applying `events` of its events, until [`disarm`].
    ///
    /// [`disarm`]: FaultInjector::disarm
    pub fn fail_batches_after(&self, events: i64) {
        self.fail_after.store(events, Ordering::SeqCst);
    }

    pub fn disarm(&self) {
        self.fail_after.store(-1, Ordering::SeqCst);
    }

    fn check(&self, applied: i64) -> Result<(), ProjectionError> {
        if self.fail_after.load(Ordering::SeqCst) == applied {
            return Err(ProjectionError::Injected(applied));
        }
        Ok(())
    }
}
