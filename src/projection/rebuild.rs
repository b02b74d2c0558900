//! Rebuilding read models from the log while the live ones keep serving (blue/green).
//!
//! How a read model recovers from a bug in its projection: fix the code, deploy, rebuild. The
//! events were never wrong, only the view of them. The live table is never emptied, so queries
//! never see a partial model:
//!
//! 1. **Build aside.** Each table gets an empty copy, `<table>__rebuild`, with the same columns
//!    and indexes ([`Transaction::create_table_like`]). The log is replayed into the copies up
//!    to its head, a page of 10,000 positions per transaction, by each projection's own fold
//!    ([`Projection::replay`]) pointed at the copy, which holds the rows it folded in memory
//!    from one page to the next and writes each once (movements as they come). A page holds
//!    the account streams' events only, each read as its place in the log and its payload's
//!    text, parsed straight into the event (`ReplayPage`); the next page is read and
//!    decoded while this one is written. Meanwhile the live projectors go on moving the live
//!    tables.
//! 2. **Swap, in one transaction.** Lock each projection's checkpoint row
//!    ([`lock_checkpoint`]): the live projector's next batch waits for the swap (on SQLite the
//!    write transaction already keeps every other writer out). Replay into the copies what was
//!    appended meanwhile, up to the head; replace each live table's rows with its copy's; drop
//!    the copy; move the checkpoint to the head by compare-and-set from the locked value. The
//!    waiting live batch then finds its checkpoint moved, gives up, and carries on from the
//!    new one.
//!
//! The swap replaces the rows that differ (`DELETE`, then `INSERT ... SELECT`, each looking
//! rows up by key in the other table) rather than renaming the tables. A rename would be
//! cheaper, but on PostgreSQL a query whose snapshot predates the swap would then read the new table through that old snapshot, which may show the copy as it
//! was before it caught up: a balance could go backwards. Replacing the rows is ordinary MVCC,
//! so every query sees either the old rows with the old checkpoint or the new rows with the
//! new one. (SQLite, which cannot rename an index, would also leave the lookup indexes with
//! the copy's names, which later migrations would not find; a first fill, below, builds them
//! after the rename.) What the swap costs is a comparison
//! of each table with its copy and a write of the rows that differ (few, after most fixes),
//! while only the rebuilt projections' live batches, and on SQLite the other writers, wait.
//! A first fill (an empty live table: a read model just added, or a log seeded without its
//! read models) compares nothing ([`Transaction::fill_empty_table`]). On PostgreSQL the
//! copy's rows go in at once, with the table's lookup indexes dropped and built again after
//! them in the same transaction; readers of that (empty) table then wait for the swap's commit,
//! and a table someone holds at that moment is swapped row by row instead. On SQLite the copy
//! itself takes the empty table's place (dropped, then the copy renamed), and the lookup
//! indexes are built on it: no row is written twice.
//!
//! A rebuild that fails (or is interrupted) leaves the live tables as they were; its copies are
//! dropped by the next rebuild.
//!
//! One rebuild of a read model runs at a time, across every process: a rebuild holds a
//! [`Lease`] per read model (`rebuild:<name>`) from before it makes its copies until after the
//! swap, and each of its transactions (every batch into the copies, and the swap) first
//! confirms the leases are still its own. A second rebuild of
//! the same read model exits at once with [`RebuildError::Busy`], leaving the first's copies
//! alone.

use std::collections::HashSet;
use std::sync::Arc;

use crate::db::{Database, Lease, LeaseError, Transaction, query};
use crate::follow::parking;
use crate::follow::{CheckpointMove, FollowError, load_checkpoint, lock_checkpoint};
use crate::projection::{
    Applied, HELD_ROWS, Progress, Projection, ProjectionName, ReadAhead, ReadAheadError, Replay, ReplayPage,
    TableStart, all,
};
use crate::store::{EventStore, StoreError};

/// What the copy of a table is called while a rebuild fills it.
const COPY_SUFFIX: &str = "__rebuild";

/// Events replayed into the copies per transaction.
const PAGE: i64 = 10_000;

/// How long a rebuild's lease lasts without renewal (it is renewed every third of it).
const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rebuilt {
    /// Positions of the log replayed (the events of every stream: those of streams no read
    /// model folds are passed over without being read).
    pub events: u64,
    /// The position the rebuilt read models reflect: the head at the swap.
    pub position: i64,
    /// What the swap changed in each live table, in the order of the names asked for.
    pub swapped: Vec<Swapped>,
}

/// What a rebuild's swap changed in one live table: only the rows that differ from the copy's
/// are deleted and inserted, so a rebuild that fixed nothing changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swapped {
    pub projection: ProjectionName,
    /// Rows the copy does not have as they are (gone, or changed).
    pub removed: u64,
    /// Rows of the copy the table did not have as they are (new, or changed).
    pub added: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the checkpoint of {0} moved while the swap held it")]
    CheckpointMoved(&'static str),
    /// Another rebuild of the same read model is running.
    #[error("another rebuild is running: {0}; try again when it is done")]
    Busy(String),
    /// The task reading the log ahead stopped before the end of the log.
    #[error("the task reading the log stopped before its end; nothing was swapped")]
    ReaderStopped,
    /// The rebuild lost its lease (it stalled past the expiry): it did not swap.
    #[error("the rebuild lost its lease on {0} before the swap; nothing was swapped")]
    LeaseLost(String),
    /// The live follower parked an event while the rebuild ran: the copy folded it.
    #[error(
        "{projection} parked the event at position {position} while the rebuild ran; nothing was swapped, run it again"
    )]
    SetAsideMeanwhile { projection: &'static str, position: i64 },
    /// An event this build cannot fold, which the read model's live follower did not set aside.
    #[error(
        "the event at position {position} cannot be folded into {projection} by this build; \
         nothing was swapped. If its follower parked it, skip it for good with \
         `foldbank parked skip {projection} {position}`"
    )]
    Unfoldable {
        position: i64,
        projection: &'static str,
        #[source]
        source: StoreError,
    },
}

/// How a rebuild runs: [`rebuild`] takes the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildOptions {
    /// What it does with the events the live followers set aside.
    pub set_aside: SetAsideEvents,
    /// Events of the log read and replayed into the copies per transaction.
    pub page: i64,
    /// Rows each keyed read model's replay holds in memory at most ([`Projection::replay`]):
    /// what bounds a rebuild's memory.
    pub held_rows: usize,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            set_aside: SetAsideEvents::LeftOut,
            page: PAGE,
            held_rows: HELD_ROWS,
        }
    }
}

/// What a rebuild does with the events a read model's live follower set aside (parked, or
/// skipped for good: see [`crate::follow::parking`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetAsideEvents {
    /// Left out, as the live follower left them out: a plain rebuild gives the same rows the
    /// live model has.
    LeftOut,
    /// The parked ones folded like any other (`foldbank parked retry`, once a fix is deployed);
    /// the skipped ones still left out.
    RetryParked,
}

impl From<ReadAheadError> for RebuildError {
    fn from(error: ReadAheadError) -> Self {
        match error {
            ReadAheadError::Store(error) => RebuildError::Store(error),
            ReadAheadError::ReaderStopped => RebuildError::ReaderStopped,
        }
    }
}

impl From<LeaseError> for RebuildError {
    fn from(error: LeaseError) -> Self {
        match error {
            LeaseError::Held { .. } => RebuildError::Busy(error.to_string()),
            LeaseError::Database(error) => RebuildError::Database(error),
        }
    }
}

/// Rebuilds the read models `names` from the whole log, while the live ones keep serving
/// (see the module docs), leaving out the events their live followers set aside. Safe while
/// the service runs, in this process or another.
pub async fn rebuild(
    database: &Database,
    store: &Arc<dyn EventStore>,
    names: &[ProjectionName],
    progress: Progress,
) -> Result<Rebuilt, RebuildError> {
    rebuild_with(database, store, names, RebuildOptions::default(), progress).await
}

/// [`rebuild`], run as `options` say.
pub async fn rebuild_with(
    database: &Database,
    store: &Arc<dyn EventStore>,
    names: &[ProjectionName],
    options: RebuildOptions,
    mut progress: Progress,
) -> Result<Rebuilt, RebuildError> {
    let projections: Vec<Arc<dyn Projection>> = all()
        .into_iter()
        .filter(|projection| names.contains(&projection.name()))
        .collect();
    if projections.is_empty() {
        return Ok(Rebuilt::default());
    }
    let leases = take_leases(database, &projections).await?;
    let rebuilt = match prepare_copies(database, &projections, &leases).await {
        Ok(()) => match left_out(database, &projections, options.set_aside).await {
            Ok(left_out) => {
                let targets = Targets {
                    projections: &projections,
                    left_out: &left_out,
                    set_aside: options.set_aside,
                    page: options.page.max(1),
                    held_rows: options.held_rows,
                };
                build_and_swap(database, store, &targets, &leases, &mut progress).await
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    progress.finish();
    // A rebuild that lost its lease leaves the copies to whoever holds it now.
    if rebuilt.is_err() && !matches!(rebuilt, Err(RebuildError::LeaseLost(_))) {
        if let Ok(mut tx) = database.begin_write().await {
            for projection in &projections {
                let _ = tx.drop_table(&copy_of(projection.as_ref())).await;
            }
            let _ = tx.commit().await;
        }
    }
    for lease in leases {
        if let Err(error) = lease.release().await {
            tracing::warn!(%error, "cannot release a rebuild lease; it expires by itself");
        }
    }
    rebuilt
}

/// The lease of each read model to rebuild, taken in name order; none if any is held.
async fn take_leases(
    database: &Database,
    projections: &[Arc<dyn Projection>],
) -> Result<Vec<Lease>, RebuildError> {
    let mut names: Vec<&str> = projections
        .iter()
        .map(|projection| projection.name().as_str())
        .collect();
    names.sort_unstable();
    let mut leases = Vec::with_capacity(names.len());
    for name in names {
        match database.take_lease(&format!("rebuild:{name}"), LEASE).await {
            Ok(lease) => leases.push(lease),
            Err(error) => {
                for lease in leases {
                    let _ = lease.release().await;
                }
                return Err(error.into());
            }
        }
    }
    Ok(leases)
}

/// Each read model's empty copy, `<table>__rebuild` (a copy left by a failed rebuild is dropped
/// first).
async fn prepare_copies(
    database: &Database,
    projections: &[Arc<dyn Projection>],
    leases: &[Lease],
) -> Result<(), RebuildError> {
    // The swap locks every checkpoint row: each must exist by then.
    for projection in projections {
        load_checkpoint(database, projection.name().as_str()).await?;
    }
    let mut tx = database.begin_write().await?;
    confirm(&mut tx, leases).await?;
    for projection in projections {
        let copy = copy_of(projection.as_ref());
        tx.drop_table(&copy).await?;
        tx.create_table_like(projection.table(), &copy).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Every lease still this rebuild's, asked inside `tx` (which then keeps it so until it ends).
async fn confirm(tx: &mut Transaction, leases: &[Lease]) -> Result<(), RebuildError> {
    for lease in leases {
        if !lease.confirm(tx).await? {
            return Err(RebuildError::LeaseLost(lease.name().to_owned()));
        }
    }
    Ok(())
}

/// The read models a rebuild fills, with the positions each leaves out.
struct Targets<'a> {
    projections: &'a [Arc<dyn Projection>],
    left_out: &'a [HashSet<i64>],
    set_aside: SetAsideEvents,
    page: i64,
    held_rows: usize,
}

/// The positions each read model leaves out: those its live follower set aside (all of them,
/// or only the skipped ones when the parked ones are retried).
async fn left_out<'e>(
    on: impl Into<crate::db::Executor<'e>>,
    projections: &[Arc<dyn Projection>],
    set_aside: SetAsideEvents,
) -> Result<Vec<HashSet<i64>>, RebuildError> {
    let events = parking::set_aside(on).await?;
    Ok(projections
        .iter()
        .map(|projection| {
            events
                .iter()
                .filter(|event| event.follower == projection.name().as_str())
                .filter(|event| event.skipped || set_aside == SetAsideEvents::LeftOut)
                .map(|event| event.position)
                .collect()
        })
        .collect())
}

fn copy_of(projection: &dyn Projection) -> String {
    format!("{}{COPY_SUFFIX}", projection.table())
}

async fn build_and_swap(
    database: &Database,
    store: &Arc<dyn EventStore>,
    targets: &Targets<'_>,
    leases: &[Lease],
    progress: &mut Progress,
) -> Result<Rebuilt, RebuildError> {
    let projections = targets.projections;
    let mut rebuilt = Rebuilt::default();
    // Each copy's fold, holding its rows from one page to the next.
    let mut replays: Vec<Box<dyn Replay>> = projections
        .iter()
        .map(|projection| projection.replay(TableStart::Empty, targets.held_rows))
        .collect();
    let head = store.head_position().await?;
    progress.aim_at(head);
    // 1. The log up to its head into the copies, while the live tables keep serving. The next
    //    page of the log is read and decoded while this one is written: the reads run in a
    //    task of their own, on another connection and another thread (decoding events costs
    //    as much as folding them).
    let mut pages = ReadAhead::start(store, rebuilt.position, head, targets.page);
    while let Some(page) = pages.next().await? {
        let mut tx = database.begin_derived_write().await?;
        // A rebuild that stalled past its lease must not write into another's copies.
        confirm(&mut tx, leases).await?;
        replay(&mut tx, targets, &mut replays, page, &mut rebuilt).await?;
        tx.commit().await?;
        progress.reached(rebuilt.position);
    }

    // 2. The swap: what arrived meanwhile, then the copies in place of the live tables. The
    //    leases are confirmed first: from then on no one else can take them until this
    //    transaction ends, however long it takes (on SQLite it keeps every other writer out,
    //    the leases' own renewals included, so a confirmation at its end would find them
    //    expired after a swap longer than a lease).
    let mut tx = database.begin_derived_write().await?;
    confirm(&mut tx, leases).await?;
    let mut checkpoints = Vec::with_capacity(projections.len());
    for projection in projections {
        let name = projection.name().as_str();
        checkpoints.push(lock_checkpoint(&mut tx, name).await?.unwrap_or(0));
    }
    let head = store.head_position().await?;
    progress.aim_at(head);
    while rebuilt.position < head {
        let up_to = head.min(rebuilt.position.saturating_add(targets.page));
        let page = ReplayPage::read(&**store, rebuilt.position, up_to).await?;
        replay(&mut tx, targets, &mut replays, page, &mut rebuilt).await?;
        progress.reached(rebuilt.position);
    }
    for ((projection, from), replay) in projections.iter().zip(checkpoints).zip(&mut replays) {
        let name = projection.name().as_str();
        replay.flush(&mut tx, &copy_of(projection.as_ref())).await?;
        // The live checkpoint was read under the lock, before the head: the copy is at least
        // as far.
        if from > rebuilt.position {
            return Err(RebuildError::CheckpointMoved(name));
        }
        let (removed, added) = replace_rows(&mut tx, projection.as_ref()).await?;
        rebuilt.swapped.push(Swapped {
            projection: projection.name(),
            removed,
            added,
        });
        CheckpointMove {
            name,
            from,
            to: rebuilt.position,
        }
        .swap_with(&mut tx)
        .await
        .map_err(|error| match error {
            FollowError::Database(error) => RebuildError::Database(error),
            _ => RebuildError::CheckpointMoved(name),
        })?;
    }
    settle_set_aside(&mut tx, targets, rebuilt.position).await?;
    tx.commit().await?;
    Ok(rebuilt)
}

/// In the swap's transaction: refuses the swap if a live follower set an event aside while the
/// rebuild ran (the copy folded what the live model left out: run it again), and, when the
/// parked events were retried, forgets those the copy folded.
async fn settle_set_aside(
    tx: &mut Transaction,
    targets: &Targets<'_>,
    position: i64,
) -> Result<(), RebuildError> {
    let now = left_out(&mut *tx, targets.projections, targets.set_aside).await?;
    for ((projection, before), now) in targets.projections.iter().zip(targets.left_out).zip(&now) {
        if let Some(parked) = now
            .iter()
            .find(|parked| **parked <= position && !before.contains(parked))
        {
            return Err(RebuildError::SetAsideMeanwhile {
                projection: projection.name().as_str(),
                position: *parked,
            });
        }
        if targets.set_aside == SetAsideEvents::RetryParked {
            query("DELETE FROM parked_events WHERE follower = $1 AND skipped_at IS NULL AND position <= $2")
                .bind(projection.name().as_str())
                .bind(position)
                .execute(&mut *tx)
                .await?;
        }
    }
    Ok(())
}

/// Replays `page`, the stretch of the log after `rebuilt.position`, into every copy (each by
/// its projection's [`Replay`], one of `replays` in the order of the targets).
async fn replay(
    tx: &mut Transaction,
    targets: &Targets<'_>,
    replays: &mut [Box<dyn Replay>],
    page: ReplayPage,
    rebuilt: &mut Rebuilt,
) -> Result<(), RebuildError> {
    let (up_to, positions) = (page.up_to, page.positions());
    let wanted = |index: usize, position: i64| !targets.left_out[index].contains(&position);
    // An event every read model leaves out may fail to decode.
    let events = page
        .wanted(targets.projections.len(), wanted)
        .map_err(|(index, position, source)| RebuildError::Unfoldable {
            position,
            projection: targets.projections[index].name().as_str(),
            source,
        })?;
    for (index, (projection, replay)) in targets.projections.iter().zip(replays).enumerate() {
        let copy = copy_of(projection.as_ref());
        if targets.left_out[index].is_empty() {
            replay.fold(&mut *tx, &copy, &events).await?;
        } else {
            let kept: Vec<Applied> = events
                .iter()
                .filter(|(recorded, _)| wanted(index, recorded.global_position))
                .map(|(recorded, event)| (*recorded, event.clone()))
                .collect();
            replay.fold(&mut *tx, &copy, &kept).await?;
        }
    }
    rebuilt.position = up_to;
    rebuilt.events += positions;
    Ok(())
}

/// Makes the rows of the projection's live table those of its copy (same columns, same
/// order), then drops the copy; answers how many rows it deleted and inserted.
///
/// Only the rows that differ are touched: a row of the table that has no row of the copy with
/// its key and the same values (`NULL` the same as `NULL`) is deleted, then every row of the
/// copy whose key the table no longer has is inserted. Both look rows up by key (the copy keeps
/// its primary key), so the comparison costs about a read of each table. Rewriting every row
/// would cost a rebuild as much again as the replay, inside the one transaction that makes the
/// live projector (and on SQLite every writer) wait.
///
/// Into an empty table (a first fill: a new read model, or the first rebuild of a seeded log)
/// there is nothing to compare: every row goes in at once and the lookup indexes are built
/// after them ([`Transaction::fill_empty_table`]), unless someone holds the table at that
/// moment (PostgreSQL).
async fn replace_rows(tx: &mut Transaction, projection: &dyn Projection) -> Result<(u64, u64), sqlx::Error> {
    let table = projection.table();
    let key = projection.key();
    let copy = copy_of(projection);
    let empty: bool = query(format!("SELECT NOT EXISTS (SELECT 1 FROM {table})"))
        .fetch_scalar(&mut *tx)
        .await?;
    if empty {
        if let Some(added) = tx.fill_empty_table(table, &copy).await? {
            tx.drop_table(&copy).await?;
            return Ok((0, added));
        }
        // Someone holds the table: compared and written row by row, as any swap.
    }
    let same = tx.null_safe_equals();
    let unchanged: String = projection
        .columns()
        .split(',')
        .map(str::trim)
        .filter(|column| *column != key)
        .map(|column| format!(" AND c.{column} {same} t.{column}"))
        .collect();
    let removed = query(format!(
        "DELETE FROM {table} AS t WHERE NOT EXISTS \
         (SELECT 1 FROM {copy} AS c WHERE c.{key} = t.{key}{unchanged})"
    ))
    .execute(&mut *tx)
    .await?;
    let added = query(format!(
        "INSERT INTO {table} SELECT * FROM {copy} AS c \
         WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.{key} = c.{key})"
    ))
    .execute(&mut *tx)
    .await?;
    tx.drop_table(&copy).await?;
    Ok((removed, added))
}
