//! The one loop for everything that follows the event log: projections and process managers.
//!
//! A [`Follower`] names its checkpoint and says what it does to a batch of events; this module
//! does the rest, the same way for every follower:
//!
//! 1. read the checkpoint, then up to `batch_size` events after it, in global order;
//! 2. hand the batch to the follower, which does its work and moves the checkpoint with the
//!    [`CheckpointMove`] it is given: inside its own transaction (a projection: rows and
//!    checkpoint commit together, so the effect is exactly-once) or after acting (a process
//!    manager: its effects are idempotent, so a replay after a crash is harmless);
//! 3. when there is nothing new, sleep until woken: right after an append in this process, by
//!    PostgreSQL `NOTIFY` from another process, or by the polling timer;
//! 4. on failure: log, record the error for `GET /projections`, back off, retry the batch; a
//!    batch that keeps failing is tried one event at a time, and an event that keeps failing
//!    for a reason of its own is parked ([`parking`]) so that the follower moves on;
//! 5. on shutdown: finish the batch in hand, then stop.
//!
//! Several processes may share one database. Every follower runs in one of them at a time: the
//! first to take its leadership ([`Follower::leadership_key`]; a PostgreSQL advisory lock held
//! on a connection of its own, or on SQLite a lease its holder renews) runs it, the others
//! stand by, keep their view of its checkpoint fresh for `min_position`, and try again every
//! poll interval, so a leader that dies is replaced within about one interval (on SQLite, once
//! its lease has lapsed). A leader that stops gives its leadership up at once. A leader checks it still leads (the [`Fence`]) before
//! each batch, and a process manager before each action as well. Leadership is an economy, not
//! the guarantee: two processes handling the same batch are still kept apart by the
//! compare-and-set of the checkpoint, and a process manager's decisions by the log.
//!
//! The leadership lock lives in the same database as the checkpoint it guards
//! ([`Follower::checkpoint_database`]): a projection's in the read database, the transfer
//! process manager's in the write database. The processes that must not run a follower at the
//! same time are exactly those that share its checkpoint: instances that keep their read models
//! in a SQLite file of their own (one log in PostgreSQL) each project into their own file, and
//! each must lead there, which a lock in the log's database would forbid. A lock beside the
//! checkpoint also fails with it: when the read database is out of reach, so is its leadership.
//! Wake-ups stay tied to the log, wherever the checkpoints are: appends in this process wake
//! the followers directly, and the log's database announces the others' (`NOTIFY`).

mod checkpoint;
pub mod parking;
pub mod reaction;
mod status;
mod waking;

pub use checkpoint::{
    CheckpointMove, StoredCheckpoint, load_checkpoint, load_state, lock_checkpoint, read_checkpoint,
    set_paused, stored_checkpoints,
};
pub use reaction::{Reacting, Reaction};
pub use status::{Behind, FollowerState, Followers};
pub use waking::WakingStore;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::command::CommandError;
use crate::db::Database;
use crate::db::coordination::Leadership;
use crate::metrics::Metrics;
use crate::store::{EventStore, RecordedEvent, StoreError};
use crate::telemetry::error_chain;

use self::parking::{TRIES_BEFORE_ISOLATING, TRIES_BEFORE_PARKING};

const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// After a batch that did not fill up, a follower lets this much time pass before it reads
/// again: under load the next batch then holds what arrived meanwhile instead of one commit's
/// worth, which divides the per-batch cost (checkpoint, transaction, fsync) by the batch size.
/// The first batch after a quiet spell is read at once, so a lone write is not delayed.
const LINGER: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("the checkpoint moved concurrently (another process handled this batch)")]
    CheckpointMoved,
    #[error("this process no longer leads")]
    LostLeadership,
    /// An operator paused the follower: it waits, without reading the log, until resumed.
    #[error("paused by an operator")]
    Paused,
    /// Commands kept losing races with other writers: passing, like a busy database.
    #[error("the follower's commands kept conflicting with other writers ({attempts} attempts)")]
    Contended { attempts: u32 },
    /// What the follower itself could not do (a command refused, a fault injected by a test).
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl From<CommandError> for FollowError {
    /// For a follower that sends commands (the process managers, the policies): the store
    /// failing, or losing race after race, is waited out like a busy database; a command
    /// refused for its content is the event's own problem, and is parked if it keeps happening.
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Store(error) | CommandError::OutcomeUnknown(error) => FollowError::Store(error),
            CommandError::Conflict { attempts } => FollowError::Contended { attempts },
            error => FollowError::Failed(Box::new(error)),
        }
    }
}

/// Something that follows the log from a checkpoint of its own.
#[async_trait::async_trait]
pub trait Follower: Send + Sync + std::fmt::Debug {
    /// The checkpoint's name, also how `GET /projections` shows the follower.
    fn name(&self) -> &'static str;

    /// The database that holds this follower's checkpoint, its parked events and its
    /// leadership lock: the one its effects are written to, so that the checkpoint can commit
    /// with them (see [`crate::db::Databases`]). The log itself may be in another database.
    fn checkpoint_database(&self) -> &Database;

    /// Events handed over at a time.
    fn batch_size(&self) -> i64 {
        500
    }

    /// The leadership that lets one process at a time run this follower (`None`: every
    /// process runs it). By default, one derived from its name.
    fn leadership_key(&self) -> Option<i64> {
        Some(leadership_key(self.name()))
    }

    /// Does this follower's work for `batch` (the events after the checkpoint, in order) and
    /// moves the checkpoint with `checkpoint`. Must be idempotent per event: after a crash the
    /// same events come again.
    async fn handle(
        &self,
        batch: &[RecordedEvent],
        checkpoint: CheckpointMove,
        fence: &mut Fence,
    ) -> Result<(), FollowError>;

    /// Brings the follower up to (about) the head of the log by a faster way than batch after
    /// batch, if it has one and it is worth it; answers whether it did. Called when this
    /// process starts to lead it, before the first batch. Whatever it does must move the
    /// checkpoint by compare-and-set like a batch: the batches then go on from wherever it left
    /// it. By default there is no faster way.
    async fn catch_up(&self, _store: &Arc<dyn EventStore>) -> Result<bool, FollowError> {
        Ok(false)
    }

    /// Whether [`retry`](Follower::retry) may handle a parked event again out of order.
    fn retries_out_of_order(&self) -> bool {
        false
    }

    /// Handles one parked event again, out of order, without moving the checkpoint.
    async fn retry(&self, _event: &RecordedEvent, _fence: &mut Fence) -> Result<(), FollowError> {
        Err(FollowError::Failed(
            "this follower cannot handle an event out of order; rebuild it instead".into(),
        ))
    }
}

/// Proof of leadership for followers that need it; free for those that do not.
#[derive(Debug)]
pub struct Fence {
    leadership: Option<Leadership>,
}

impl Fence {
    /// Fails with [`FollowError::LostLeadership`] once this process no longer leads.
    pub async fn check(&mut self) -> Result<(), FollowError> {
        if let Some(leadership) = &mut self.leadership {
            if !leadership.is_held().await {
                return Err(FollowError::LostLeadership);
            }
        }
        Ok(())
    }

    /// Gives the leadership up, so that a standby takes over at once.
    async fn release(self) {
        if let Some(leadership) = self.leadership {
            leadership.release().await;
        }
    }
}

/// Why a follower stopped running its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Stopped,
    LostLeadership,
}

#[derive(Debug, Clone)]
pub struct FollowSettings {
    /// How often to look for new events when nothing woke the follower.
    pub poll_interval: Duration,
    /// The longest pause between two tries of a failing batch (the pause doubles from 50 ms).
    pub max_backoff: Duration,
}

impl Default for FollowSettings {
    fn default() -> Self {
        FollowSettings {
            poll_interval: Duration::from_secs(1),
            max_backoff: MAX_BACKOFF,
        }
    }
}

/// What every follower task shares.
#[derive(Debug, Clone)]
pub struct FollowContext {
    /// The database of the log, whose `NOTIFY` announces appends made by other processes.
    pub log_database: Database,
    pub store: Arc<dyn EventStore>,
    pub status: Followers,
    pub settings: FollowSettings,
    /// Where the lag from append to handled, and parked events, are counted.
    pub metrics: Metrics,
}

/// Running follower tasks. [`stop`](Following::stop) ends them and waits; dropping the handle
/// only asks them to stop.
#[derive(Debug)]
pub struct Following {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Following {
    /// Starts one task per follower, plus one that forwards PostgreSQL notifications of appends.
    /// They stop when `shutdown` is cancelled or this handle stops.
    pub fn start(
        followers: Vec<Arc<dyn Follower>>,
        context: &FollowContext,
        shutdown: &CancellationToken,
    ) -> Following {
        let stop = shutdown.child_token();
        let tasks = TaskTracker::new();
        for follower in followers {
            tasks.spawn(follow(follower, context.clone(), stop.clone()));
        }
        tasks.spawn(listen(context.clone(), stop.clone()));
        tasks.close();
        Following { stop, tasks }
    }

    /// Asks every task to stop after the batch in hand, and waits until they have.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Forwards notifications of appends made by any process to the followers of this one.
async fn listen(context: FollowContext, stop: CancellationToken) {
    let status = context.status.clone();
    let mut backoff = MIN_BACKOFF;
    loop {
        let listened = tokio::select! {
            () = stop.cancelled() => return,
            listened = context.log_database.listen_for_appends(|position| status.announce_head(position)) => listened,
        };
        match listened {
            // Nothing to listen to on this backend.
            Ok(()) => return,
            Err(error) => tracing::warn!(%error, "LISTEN for appends failed; retrying"),
        }
        if sleep_unless_stopped(&stop, backoff).await.is_err() {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Moves one follower along the log until stopped: leads it, or stands by until it can.
async fn follow(follower: Arc<dyn Follower>, context: FollowContext, stop: CancellationToken) {
    let mut wake = context.status.head_changes();
    while !stop.is_cancelled() {
        let Some(mut fence) = lead(&*follower, &context, &stop).await else {
            return;
        };
        let ended = run_while_leading(&*follower, &context, &stop, &mut fence, &mut wake).await;
        fence.release().await;
        if ended == Ended::Stopped {
            return;
        }
        tracing::warn!(follower = follower.name(), "lost the leadership; standing by");
    }
}

/// Hands batch after batch to `follower` while this process leads it: sleeps when caught up,
/// backs off on failures, parks an event that keeps failing.
async fn run_while_leading(
    follower: &dyn Follower,
    context: &FollowContext,
    stop: &CancellationToken,
    fence: &mut Fence,
    wake: &mut watch::Receiver<i64>,
) -> Ended {
    let name = follower.name();
    let mut backoff = MIN_BACKOFF;
    // The checkpoint as this task last moved it. The compare-and-set of every move makes it
    // safe to trust: if anyone else moved it (another process, a rebuild), the next move fails
    // and it is read again. It is read again after every quiet spell as well, so a rebuild is
    // noticed even when no event arrives.
    let mut known: Option<i64> = None;
    // How often in a row the batch at the checkpoint failed for a reason of its own.
    let mut failures = 0_u32;
    match follower.catch_up(&context.store).await {
        Ok(true) => tracing::info!(follower = name, "caught up with the log in bulk"),
        Ok(false) => {}
        // Never fatal: the batches do the same, only slower.
        Err(error) => {
            tracing::warn!(follower = name, error = %error_chain(&error), "bulk catch-up failed; going on batch by batch")
        }
    }
    while !stop.is_cancelled() {
        wake.borrow_and_update();
        let batch_size = if failures >= TRIES_BEFORE_ISOLATING {
            1
        } else {
            follower.batch_size()
        };
        let pause = match step(follower, context, fence, known, batch_size).await {
            Ok((0, _)) => {
                backoff = MIN_BACKOFF;
                failures = 0;
                known = None;
                context.status.record_error(name, None, Utc::now());
                if let Err(error) = retry_requested(follower, context, fence).await {
                    tracing::warn!(follower = name, error = %error_chain(&error), "retrying parked events failed");
                }
                tokio::select! {
                    () = stop.cancelled() => return Ended::Stopped,
                    () = idle(wake, context.settings.poll_interval) => {}
                }
                Duration::ZERO
            }
            Ok((handled, reached)) => {
                backoff = MIN_BACKOFF;
                failures = 0;
                known = Some(reached);
                context.status.record_error(name, None, Utc::now());
                let full = i64::try_from(handled).unwrap_or(i64::MAX) >= follower.batch_size();
                if full { Duration::ZERO } else { LINGER }
            }
            Err(FollowError::CheckpointMoved) => {
                tracing::debug!(follower = name, "another process handled this batch");
                known = None;
                MIN_BACKOFF
            }
            Err(FollowError::LostLeadership) => return Ended::LostLeadership,
            // Nothing failed: wait for the next append or poll, then look again.
            Err(FollowError::Paused) => {
                known = None;
                failures = 0;
                context.status.record_error(name, None, Utc::now());
                tokio::select! {
                    () = stop.cancelled() => return Ended::Stopped,
                    () = idle(wake, context.settings.poll_interval) => {}
                }
                Duration::ZERO
            }
            Err(error) => {
                known = None;
                failures = failed(follower, context, &error, failures).await;
                let pause = backoff;
                backoff = (backoff * 2).min(context.settings.max_backoff);
                pause
            }
        };
        if sleep_unless_stopped(stop, pause).await.is_err() {
            return Ended::Stopped;
        }
    }
    Ended::Stopped
}

/// Reports a failed batch, and parks the event at the checkpoint once it has failed often
/// enough for a reason of its own; answers the failures in a row after this one.
async fn failed(follower: &dyn Follower, context: &FollowContext, error: &FollowError, failures: u32) -> u32 {
    let name = follower.name();
    let message = error_chain(error);
    let mut failures = failures;
    if error.is_poison() {
        failures += 1;
        if failures >= TRIES_BEFORE_ISOLATING + TRIES_BEFORE_PARKING {
            match park_next(follower, context, &message, failures).await {
                Ok(()) => failures = 0,
                Err(error) => {
                    tracing::warn!(follower = name, error = %error_chain(&error), "could not park an event")
                }
            }
        }
    }
    tracing::warn!(follower = name, error = %message, "follower batch failed; retrying");
    context.status.record_error(name, Some(message), Utc::now());
    failures
}

/// How often a standby reads the checkpoint its follower's leader moves, for `min_position`.
const STANDBY_REFRESH: Duration = Duration::from_millis(50);

/// The advisory lock key of `follower`'s leadership: a stable 64-bit hash of its name
/// (FNV-1a), so every process and every version of the code agree on it.
pub fn leadership_key(follower: &str) -> i64 {
    let hash = format!("foldbank follower {follower}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Waits until this process may run `follower`, keeping its status fresh meanwhile; `None`
/// when stopped first.
async fn lead(follower: &dyn Follower, context: &FollowContext, stop: &CancellationToken) -> Option<Fence> {
    let Some(key) = follower.leadership_key() else {
        return Some(Fence { leadership: None });
    };
    let name = follower.name();
    let mut backoff = MIN_BACKOFF;
    let mut announced = false;
    loop {
        let pause = match follower.checkpoint_database().try_lead(key).await {
            Ok(Some(leadership)) => {
                if announced {
                    tracing::info!(follower = name, "took over the leadership");
                }
                return Some(Fence {
                    leadership: Some(leadership),
                });
            }
            Ok(None) => {
                if !announced {
                    tracing::info!(follower = name, "another process leads; standing by");
                    announced = true;
                }
                context.settings.poll_interval
            }
            Err(error) => {
                tracing::warn!(follower = name, %error, "cannot check leadership; retrying");
                backoff = (backoff * 2).min(MAX_BACKOFF);
                backoff
            }
        };
        // Standing by: follow the leader's checkpoint, so that queries here can wait for a
        // `min_position` as on the leader.
        let until = tokio::time::Instant::now() + pause;
        while tokio::time::Instant::now() < until {
            if let Ok(Some(position)) = read_checkpoint(follower.checkpoint_database(), name).await {
                context.status.record_checkpoint(name, position);
            }
            sleep_unless_stopped(stop, STANDBY_REFRESH.min(pause))
                .await
                .ok()?;
        }
    }
}

/// Hands the next batch after the checkpoint (`known`, or as stored) to `follower`; returns how
/// many events it held (0: caught up) and the checkpoint reached.
async fn step(
    follower: &dyn Follower,
    context: &FollowContext,
    fence: &mut Fence,
    known: Option<i64>,
    batch_size: i64,
) -> Result<(usize, i64), FollowError> {
    let name = follower.name();
    fence.check().await?;
    let from = match known {
        Some(position) => position,
        None => {
            let (position, paused_at) = load_state(follower.checkpoint_database(), name).await?;
            if paused_at.is_some() {
                context.status.record_checkpoint(name, position);
                return Err(FollowError::Paused);
            }
            position
        }
    };
    context.status.record_checkpoint(name, from);
    let batch = context.store.read_all(from, batch_size).await?;
    let Some(to) = batch.last().map(|event| event.global_position) else {
        return Ok((0, from));
    };
    let started = Utc::now();
    let handled = follower
        .handle(&batch, CheckpointMove { name, from, to }, fence)
        .await;
    // A record of who handled what, and when, whether it succeeded or not: at most one process
    // handles a follower's batches at a time, which a test checks from these lines of two.
    tracing::debug!(
        follower = name,
        from,
        to,
        started_us = started.timestamp_micros(),
        finished_us = Utc::now().timestamp_micros(),
        applied = handled.is_ok(),
        "batch handled"
    );
    handled?;
    // The metrics first: whoever waits for the checkpoint (`min_position`, a test) then finds
    // the batch counted.
    context
        .metrics
        .applied(name, batch.iter().map(|event| event.recorded_at), Utc::now());
    context.status.record_checkpoint(name, to);
    Ok((batch.len(), to))
}

/// Parks the event right after the follower's checkpoint, which kept failing with `error`.
async fn park_next(
    follower: &dyn Follower,
    context: &FollowContext,
    error: &str,
    attempts: u32,
) -> Result<(), FollowError> {
    let name = follower.name();
    let from = load_checkpoint(follower.checkpoint_database(), name).await?;
    let Some(event) = context.store.read_all(from, 1).await?.into_iter().next() else {
        return Ok(());
    };
    let checkpoint = CheckpointMove {
        name,
        from,
        to: event.global_position,
    };
    parking::park(
        follower.checkpoint_database(),
        &event,
        error,
        attempts - TRIES_BEFORE_ISOLATING,
        checkpoint,
    )
    .await?;
    context.status.record_checkpoint(name, event.global_position);
    context.metrics.parked(name);
    tracing::warn!(
        follower = name,
        position = event.global_position,
        event_type = %event.event_type,
        error,
        "parked an event that keeps failing; the follower moves on (see GET /projections)"
    );
    Ok(())
}

/// Handles again the parked events an operator asked to retry, if the follower can.
async fn retry_requested(
    follower: &dyn Follower,
    context: &FollowContext,
    fence: &mut Fence,
) -> Result<(), FollowError> {
    if !follower.retries_out_of_order() {
        return Ok(());
    }
    for parked in parking::requested_retries(follower.checkpoint_database(), follower.name()).await? {
        let Some(event) = context
            .store
            .read_all(parked.position - 1, 1)
            .await?
            .into_iter()
            .next()
        else {
            continue;
        };
        let failure = follower
            .retry(&event, fence)
            .await
            .err()
            .map(|error| error_chain(&error));
        match &failure {
            None => tracing::info!(
                follower = follower.name(),
                position = parked.position,
                "a parked event was handled"
            ),
            Some(error) => tracing::warn!(
                follower = follower.name(),
                position = parked.position,
                error,
                "a parked event failed again"
            ),
        }
        parking::retried(follower.checkpoint_database(), &parked, failure.as_deref()).await?;
    }
    Ok(())
}

async fn idle(wake: &mut watch::Receiver<i64>, poll_interval: Duration) {
    tokio::select! {
        changed = wake.changed() => {
            if changed.is_err() {
                tokio::time::sleep(poll_interval).await;
            }
        }
        () = tokio::time::sleep(poll_interval) => {}
    }
}

/// Sleeps for `pause`; `Err` if stopped meanwhile.
async fn sleep_unless_stopped(stop: &CancellationToken, pause: Duration) -> Result<(), ()> {
    tokio::select! {
        () = stop.cancelled() => Err(()),
        () = tokio::time::sleep(pause) => Ok(()),
    }
}
