//! The tasks that move each projection along the log.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::{Database, sqlite_time};
use crate::domain::account::{self, AccountEvent};
use crate::projection::{FaultInjector, Projection, ProjectionError, Projections};
use crate::store::{EventStore, RecordedEvent, codec};

/// The PostgreSQL channel the `events` insert trigger notifies (see the migrations).
const NOTIFY_CHANNEL: &str = "foldbank_events";
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct ProjectorSettings {
    /// Events applied per transaction.
    pub batch_size: i64,
    /// How often to look for new events when nothing woke the projector.
    pub poll_interval: Duration,
    pub faults: Arc<FaultInjector>,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        ProjectorSettings {
            batch_size: 500,
            poll_interval: Duration::from_secs(1),
            faults: Arc::new(FaultInjector::default()),
        }
    }
}

/// The running projector: one task per projection, plus a `LISTEN` task on PostgreSQL.
/// Dropping it stops them (an interrupted batch rolls back and is replayed next time).
#[derive(Debug)]
pub struct Projector {
    tasks: Vec<JoinHandle<()>>,
}

impl Projector {
    pub fn start(
        database: Database,
        store: Arc<dyn EventStore>,
        projections: Projections,
        settings: ProjectorSettings,
    ) -> Projector {
        let mut tasks: Vec<JoinHandle<()>> = super::all()
            .into_iter()
            .map(|projection| {
                tokio::spawn(follow(
                    projection,
                    database.clone(),
                    store.clone(),
                    projections.clone(),
                    settings.clone(),
                ))
            })
            .collect();
        if let Database::Postgres(pool) = &database {
            tasks.push(tokio::spawn(listen(pool.clone(), projections)));
        }
        Projector { tasks }
    }

    pub fn stop(self) {}
}

impl Drop for Projector {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Forwards PostgreSQL notifications of appends (from any process) to the projectors.
async fn listen(pool: sqlx::PgPool, projections: Projections) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let result: Result<(), sqlx::Error> = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            loop {
                let notification = listener.recv().await?;
                if let Ok(position) = notification.payload().parse::<i64>() {
                    projections.announce_head(position);
                }
            }
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, "LISTEN for appends failed; retrying");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Moves one projection along the log forever.
async fn follow(
    projection: Arc<dyn Projection>,
    database: Database,
    store: Arc<dyn EventStore>,
    projections: Projections,
    settings: ProjectorSettings,
) {
    let name = projection.name();
    let mut wake = projections.head_changes();
    let mut backoff = MIN_BACKOFF;
    loop {
        wake.borrow_and_update();
        match step(&*projection, &database, &*store, &projections, &settings).await {
            Ok(applied) => {
                backoff = MIN_BACKOFF;
                projections.record_error(name, None, Utc::now());
                if applied == 0 {
                    idle(&mut wake, settings.poll_interval).await;
                }
            }
            Err(ProjectionError::CheckpointMoved) => {
                tracing::debug!(projection = name, "another process applied this batch");
            }
            Err(error) => {
                let message = error_chain(&error);
                tracing::warn!(projection = name, error = %message, ?backoff, "projection batch failed; retrying");
                projections.record_error(name, Some(message), Utc::now());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

pub(crate) async fn idle(wake: &mut watch::Receiver<i64>, poll_interval: Duration) {
    tokio::select! {
        changed = wake.changed() => {
            if changed.is_err() {
                tokio::time::sleep(poll_interval).await;
            }
        }
        () = tokio::time::sleep(poll_interval) => {}
    }
}

pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Applies the next batch; returns how many events it applied (0: caught up).
async fn step(
    projection: &dyn Projection,
    database: &Database,
    store: &dyn EventStore,
    projections: &Projections,
    settings: &ProjectorSettings,
) -> Result<usize, ProjectionError> {
    let name = projection.name();
    let checkpoint = load_checkpoint(database, name).await?;
    projections.record_checkpoint(name, checkpoint);
    let batch = store.read_all(checkpoint, settings.batch_size).await?;
    let Some(last) = batch.last().map(|event| event.global_position) else {
        return Ok(0);
    };
    apply_batch(projection, database, &batch, checkpoint, last, &settings.faults).await?;
    projections.record_checkpoint(name, last);
    Ok(batch.len())
}

/// The account event inside `recorded`, or `None` for other streams.
fn account_event(recorded: &RecordedEvent) -> Result<Option<AccountEvent>, ProjectionError> {
    if recorded.stream_type != account::STREAM_TYPE {
        return Ok(None);
    }
    Ok(Some(codec::decode(recorded)?))
}

/// Applies `batch` and moves the checkpoint from `from` to `to`, all in one transaction.
async fn apply_batch(
    projection: &dyn Projection,
    database: &Database,
    batch: &[RecordedEvent],
    from: i64,
    to: i64,
    faults: &FaultInjector,
) -> Result<(), ProjectionError> {
    let name = projection.name();
    match database {
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            for (applied, recorded) in (0_i64..).zip(batch) {
                faults.check(applied)?;
                if let Some(event) = account_event(recorded)? {
                    projection.apply_postgres(&mut tx, recorded, &event).await?;
                }
            }
            let moved = sqlx::query(
                "UPDATE projection_checkpoints SET position = $1, updated_at = $2 \
                 WHERE name = $3 AND position = $4",
            )
            .bind(to)
            .bind(Utc::now())
            .bind(name)
            .bind(from)
            .execute(&mut *tx)
            .await?;
            if moved.rows_affected() != 1 {
                return Err(ProjectionError::CheckpointMoved);
            }
            tx.commit().await?;
        }
        Database::Sqlite(sqlite) => {
            let mut write = sqlite.begin_write().await?;
            for (applied, recorded) in (0_i64..).zip(batch) {
                faults.check(applied)?;
                if let Some(event) = account_event(recorded)? {
                    projection.apply_sqlite(&mut write.tx, recorded, &event).await?;
                }
            }
            let moved = sqlx::query(
                "UPDATE projection_checkpoints SET position = $1, updated_at = $2 \
                 WHERE name = $3 AND position = $4",
            )
            .bind(to)
            .bind(sqlite_time(Utc::now()))
            .bind(name)
            .bind(from)
            .execute(&mut *write.tx)
            .await?;
            if moved.rows_affected() != 1 {
                return Err(ProjectionError::CheckpointMoved);
            }
            write.commit().await?;
        }
    }
    Ok(())
}

/// The stored checkpoint of `name`, creating it at 0 on first use.
pub(crate) async fn load_checkpoint(database: &Database, name: &str) -> Result<i64, ProjectionError> {
    const INSERT: &str = "INSERT INTO projection_checkpoints (name, position, updated_at) \
        VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING";
    const SELECT: &str = "SELECT position FROM projection_checkpoints WHERE name = $1";
    let position = match database {
        Database::Postgres(pool) => {
            sqlx::query(INSERT)
                .bind(name)
                .bind(Utc::now())
                .execute(pool)
                .await?;
            sqlx::query_scalar(SELECT).bind(name).fetch_one(pool).await?
        }
        Database::Sqlite(sqlite) => {
            let position: Option<i64> = sqlx::query_scalar(SELECT)
                .bind(name)
                .fetch_optional(&sqlite.pool)
                .await?;
            match position {
                Some(position) => position,
                None => {
                    let mut write = sqlite.begin_write().await?;
                    sqlx::query(INSERT)
                        .bind(name)
                        .bind(sqlite_time(Utc::now()))
                        .execute(&mut *write.tx)
                        .await?;
                    write.commit().await?;
                    0
                }
            }
        }
    };
    Ok(position)
}

/// Moves the checkpoint of `name` from `from` to `to`, unless another process moved it first.
///
/// For consumers that act outside the read-model transaction (the process managers): they act
/// first, idempotently, then record how far they got.
pub(crate) async fn advance_checkpoint(
    database: &Database,
    name: &str,
    from: i64,
    to: i64,
) -> Result<(), ProjectionError> {
    const UPDATE: &str = "UPDATE projection_checkpoints SET position = $1, updated_at = $2 \
        WHERE name = $3 AND position = $4";
    let moved = match database {
        Database::Postgres(pool) => sqlx::query(UPDATE)
            .bind(to)
            .bind(Utc::now())
            .bind(name)
            .bind(from)
            .execute(pool)
            .await?
            .rows_affected(),
        Database::Sqlite(sqlite) => {
            let mut write = sqlite.begin_write().await?;
            let moved = sqlx::query(UPDATE)
                .bind(to)
                .bind(sqlite_time(Utc::now()))
                .bind(name)
                .bind(from)
                .execute(&mut *write.tx)
                .await?
                .rows_affected();
            write.commit().await?;
            moved
        }
    };
    if moved == 1 {
        Ok(())
    } else {
        Err(ProjectionError::CheckpointMoved)
    }
}
