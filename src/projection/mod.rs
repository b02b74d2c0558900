//! The read side: projections that follow the event log into read tables, and the reads of
//! those tables.
//!
//! A projection is a fold of the log into a table shaped for queries
//! (`read_model = fold(project, empty, events)`). Each one is a [`Follower`] with its own
//! checkpoint, run by the shared follower loop ([`crate::follow`]), so each can be rebuilt
//! alone. A batch's rows and the checkpoint commit in **one** transaction: delivery is
//! at-least-once (a crash before commit replays the batch), the effect exactly-once (each
//! projection also skips events its rows already reflect).
//!
//! One module per read model, one unit: its table's row type, its pure fold and its statements
//! in `mod.rs`, the queries over its table in `reads.rs` (methods of [`ReadModels`]).
//! The pure fold is what [`Projection::write_batch`] runs on the rows a batch touches, and what
//! [`Projection::in_memory`] runs with no database at all, so that [`verify`] can compare the
//! stored tables with a fresh fold of the log by the very same code. [`rebuild`] replays the
//! log into copies of the tables while the live ones keep serving, then swaps the copies in.
//! This module reads the log only as it is handed over and writes only its own tables.

pub mod balances;
pub mod holds;
mod keyed;
pub mod ledger;
mod pages;
mod progress;
pub(crate) mod reads;
mod rebuild;
#[cfg(test)]
pub(crate) mod recorded_for_tests;
pub mod replicas;
pub mod transactions;
pub mod transfers;
mod verify;

pub use balances::owners::{CurrencyBalance, OwnerSummary};
pub use balances::{AccountFilter, AccountPage};
pub use holds::{DueHold, HoldFilter, HoldPage, HoldsRead};
use keyed::Keyed;
pub use ledger::CurrencyTotals;
pub(crate) use pages::{ReadAhead, ReadAheadError, ReplayPage};
pub use progress::Progress;
pub use reads::{QueryError, ReadModels, Reads, Snapshot};
pub use rebuild::{RebuildError, RebuildOptions, Rebuilt, SetAsideEvents, Swapped, rebuild, rebuild_with};
pub use replicas::{Replica, ReplicaStatus, Replicas};
pub use transactions::{BalanceAt, TransactionFilter, TransactionPage};
pub use transfers::TransferPage;
pub use verify::{Difference, DifferenceCounts, TableReport, Verification, VerifyError, verify};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::db::{Database, Databases, Param, Query, Transaction, query};
use crate::domain::account::{self, AccountEvent};
use crate::follow::{CheckpointMove, Fence, FollowError, Follower, load_state};
use crate::store::{EventPlace, EventStore, RecordedEvent, StoreError, codec};

/// The read models this service maintains; also the argument of `foldbank rebuild`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
    clap::ValueEnum,
)]
#[strum(serialize_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ProjectionName {
    AccountBalances,
    AccountTransactions,
    Transfers,
    LedgerTotals,
    AccountHolds,
}

impl ProjectionName {
    /// The checkpoint name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Every projection this service maintains.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(Keyed::<balances::BalanceRow>::default()),
        Arc::new(transactions::TransactionsProjection),
        Arc::new(Keyed::<transfers::TransferRow>::default()),
        Arc::new(Keyed::<ledger::LedgerRow>::default()),
        Arc::new(Keyed::<holds::HoldRow>::default()),
    ]
}

/// Whether `follower` names a projection (rather than a process manager).
pub fn is_projection(follower: &str) -> bool {
    follower.parse::<ProjectionName>().is_ok()
}

/// The database that holds `follower`'s checkpoint and parked events: a projection's are in the
/// read database, with its rows; any other follower's (a process manager's) in the write
/// database, with the log it appends to. See [`Follower::checkpoint_database`].
pub fn checkpoint_database<'a>(databases: &'a Databases, follower: &str) -> &'a Database {
    if is_projection(follower) {
        &databases.read
    } else {
        &databases.write
    }
}

/// One account event of a batch, as stored and as decoded.
pub type Applied = (EventPlace, AccountEvent);

/// The account events of `batch`, decoded (other streams' events are no read model's concern).
pub fn account_events(batch: &[RecordedEvent]) -> Result<Vec<Applied>, StoreError> {
    batch
        .iter()
        .filter(|recorded| recorded.stream_type == account::STREAM_TYPE)
        .map(|recorded| Ok((recorded.place(), codec::decode::<AccountEvent>(recorded)?)))
        .collect()
}

/// One read model, written inside the projector's transaction.
///
/// [`write_batch`](Projection::write_batch) receives a batch of account events in global order, and writes what they change in
/// a few statements for the whole batch (read the rows involved, fold in memory, write them
/// back), not a few per event. It must be idempotent: events its rows already reflect change
/// nothing. The fold itself is pure and shared with [`in_memory`](Projection::in_memory).
#[async_trait::async_trait]
pub trait Projection: Send + Sync + std::fmt::Debug {
    fn name(&self) -> ProjectionName;

    /// The table the read model lives in.
    fn table(&self) -> &'static str;

    /// Its primary key column.
    fn key(&self) -> &'static str;

    /// Every column of its table, comma-separated: what a rebuild's swap compares.
    fn columns(&self) -> &'static str;

    /// Writes what `batch` changes into `table`: the read model's own [`table`], or a copy of
    /// it that a [`rebuild`] is filling. A [`Replay`] of one batch, flushed at once.
    ///
    /// [`table`]: Projection::table
    async fn write_batch(
        &self,
        tx: &mut Transaction,
        table: &str,
        batch: &[Applied],
    ) -> Result<(), sqlx::Error> {
        let mut replay = self.replay(TableStart::Stored, HELD_ROWS);
        replay.fold(tx, table, batch).await?;
        replay.flush(tx, table).await
    }

    /// A fold of batch after batch into a table that keeps what it folded in memory between
    /// them, and writes it back when flushed: how a [`rebuild`] fills its copy at the speed of
    /// the log rather than of a read and a write of every row a batch touches. Past
    /// `held_rows` rows it writes them back and lets them go (see [`RebuildOptions::held_rows`]).
    fn replay(&self, table: TableStart, held_rows: usize) -> Box<dyn Replay>;

    /// An empty read model in memory, which folds batches with the same code as
    /// [`write_batch`](Projection::write_batch).
    fn in_memory(&self) -> Box<dyn InMemoryModel>;

    /// The rows of `table` that `which` names, as [`InMemoryModel::rows`] lists them: what
    /// [`verify`] compares with its fold, a chunk at a time.
    async fn stored(
        &self,
        tx: &mut Transaction,
        table: &str,
        which: StoredRows<'_>,
    ) -> Result<Vec<(String, Vec<Param>)>, sqlx::Error>;
}

/// What a [`Replay`] may take for granted about its table when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableStart {
    /// Nothing but what this replay writes: a rebuild's fresh copy. A row it does not hold
    /// does not exist.
    Empty,
    /// Rows written before (a live read model): it reads those a batch touches.
    Stored,
}

/// Rows (or balances) a [`Replay`] holds in memory at most, per read model: past it, it writes
/// them back and lets them go, and reads them again when a batch names them. What bounds a
/// rebuild's memory whatever the number of accounts (about 80 MB for the widest rows, transfers, map included).
pub(crate) const HELD_ROWS: usize = 100_000;

/// A projection folding the log into a table batch after batch, holding in memory what later
/// batches will change again (see [`Projection::replay`]). Each call runs inside the caller's
/// transaction; what is not yet flushed is not in the table.
#[async_trait::async_trait]
pub trait Replay: Send {
    /// Folds the next batch (events after the last one folded, in global order), writing what
    /// need not wait.
    async fn fold(&mut self, tx: &mut Transaction, table: &str, batch: &[Applied])
    -> Result<(), sqlx::Error>;

    /// Writes everything folded and not yet written.
    async fn flush(&mut self, tx: &mut Transaction, table: &str) -> Result<(), sqlx::Error>;
}

/// Which stored rows [`Projection::stored`] reads.
#[derive(Debug, Clone, Copy)]
pub enum StoredRows<'a> {
    /// The rows of these keys (as [`Rows`] writes them), in any order.
    Keys(&'a [String]),
    /// Up to `limit` rows in key order, after the key `after` (from the first without it).
    After { after: Option<&'a str>, limit: i64 },
}

impl StoredRows<'_> {
    /// `select` (a `SELECT ... FROM table`) narrowed to the rows this names, by the key column
    /// `key` of type `K`. A key that does not parse as `K` names no row (and no row follows
    /// it), so a caller paging through a table always comes to an end.
    ///
    /// Keys that both databases order as Rust does ([`RowKey::SORTS_AS_IN_SQL`]) are also
    /// bounded by the least and the greatest of them: a list of thousands of keys then tells
    /// PostgreSQL's planner how narrow a stretch of the key's index it names, and it looks them
    /// up there instead of scanning the whole table (which it did for every chunk of `verify`).
    pub(crate) fn narrow<K: RowKey>(self, select: String, key: &str) -> Query {
        let nothing = || query(format!("{select} WHERE 1 = 0"));
        match self {
            StoredRows::Keys(keys) => {
                let keys: Vec<K> = keys.iter().filter_map(|key| key.parse().ok()).collect();
                let (Some(least), Some(greatest)) = (keys.iter().min(), keys.iter().max()) else {
                    return nothing();
                };
                let narrowed = if K::SORTS_AS_IN_SQL {
                    query(format!("{select} WHERE {key} BETWEEN "))
                        .push_bind(least.clone())
                        .push(" AND ")
                        .push_bind(greatest.clone())
                        .push(&format!(" AND {key} IN ("))
                } else {
                    query(format!("{select} WHERE {key} IN ("))
                };
                narrowed.values_list(keys).push(")")
            }
            StoredRows::After { after, limit } => {
                let mut narrowed = query(format!("{select} WHERE 1 = 1"));
                match after.map(str::parse::<K>) {
                    None => {}
                    Some(Ok(after)) => narrowed = narrowed.push(&format!(" AND {key} > ")).push_bind(after),
                    Some(Err(_)) => return nothing(),
                }
                narrowed.push(&format!(" ORDER BY {key} LIMIT ")).push_bind(limit)
            }
        }
    }
}

/// The type of a read model's key, as [`StoredRows::narrow`] binds it.
pub(crate) trait RowKey: std::str::FromStr + Into<Param> + Ord + Clone {
    /// Whether both databases order its values as its `Ord` does: a UUID's bytes (PostgreSQL's
    /// `uuid`, SQLite's lowercase hyphenated text) do; text does not (PostgreSQL orders it by
    /// the database's collation).
    const SORTS_AS_IN_SQL: bool;
}

impl RowKey for uuid::Uuid {
    const SORTS_AS_IN_SQL: bool = true;
}

impl RowKey for String {
    const SORTS_AS_IN_SQL: bool = false;
}

/// A read model held in memory instead of a table: what [`verify`] folds the log into.
pub trait InMemoryModel: Send + std::fmt::Debug {
    /// Folds the next batch of the log into the model.
    fn fold(&mut self, batch: &[Applied]);

    /// Takes out of the model the rows no later event can change, so that [`verify`] compares
    /// them at once and memory holds only the rows still open (an account's, a transfer in
    /// flight), not the whole table.
    fn take_settled(&mut self) -> Rows;

    /// The rows the table would hold (of those still in the model).
    fn rows(&self) -> Rows;
}

/// A read model's rows by primary key, each as its column values in the table's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<&'static str>,
    pub rows: BTreeMap<String, Vec<Param>>,
}

impl Rows {
    /// `columns` as a comma-separated list, and each row as its key and its values in that order.
    pub fn new(columns: &'static str, rows: impl IntoIterator<Item = (String, Vec<Param>)>) -> Self {
        Rows {
            columns: columns.split(',').map(str::trim).collect(),
            rows: rows.into_iter().collect(),
        }
    }
}

/// The length of the log from which a read model with nothing folded yet catches up in bulk
/// (see [`Projector`]'s `catch_up`) rather than batch after batch: a rebuild's page.
pub const BULK_CATCH_UP_FROM: i64 = 10_000;

/// Runs a [`Projection`] as a follower of the log.
#[derive(Debug)]
pub struct Projector {
    projection: Arc<dyn Projection>,
    /// The read database: the projection's table and checkpoint.
    database: Database,
    faults: Arc<FaultInjector>,
}

impl Projector {
    pub fn new(projection: Arc<dyn Projection>, database: Database, faults: Arc<FaultInjector>) -> Self {
        Projector {
            projection,
            database,
            faults,
        }
    }

    /// A follower for each of [`all`] the projections.
    pub fn all(database: &Database, faults: &Arc<FaultInjector>) -> Vec<Arc<dyn Follower>> {
        all()
            .into_iter()
            .map(|projection| {
                Arc::new(Projector::new(projection, database.clone(), faults.clone())) as Arc<dyn Follower>
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Follower for Projector {
    fn name(&self) -> &'static str {
        self.projection.name().as_str()
    }

    /// The read database: the checkpoint commits with the rows.
    fn checkpoint_database(&self) -> &Database {
        &self.database
    }

    /// A read model that has folded nothing yet (its checkpoint at 0: just added by a
    /// migration, or emptied on purpose) while the log already holds
    /// [`BULK_CATCH_UP_FROM`] events or more is filled by a [`rebuild`]: the log replayed in
    /// bulk into a copy, then swapped in with the checkpoint moved by compare-and-set, from
    /// where the batches go on. Events appended meanwhile are folded by the swap, so nothing
    /// is missed and nothing folded twice. A rebuild already running elsewhere (another
    /// process is doing just this) leaves the batches to do it.
    async fn catch_up(&self, store: &Arc<dyn EventStore>) -> Result<bool, FollowError> {
        let name = self.projection.name();
        // A paused read model stays where it is, even at 0.
        let (position, paused_at) = load_state(&self.database, name.as_str()).await?;
        if position != 0 || paused_at.is_some() || store.head_position().await? < BULK_CATCH_UP_FROM {
            return Ok(false);
        }
        match rebuild(&self.database, store, &[name], Progress::in_log("catch-up")).await {
            Ok(_) => Ok(true),
            Err(RebuildError::Busy(_)) => Ok(false),
            Err(RebuildError::Database(error)) => Err(FollowError::Database(error)),
            Err(error) => Err(FollowError::Failed(Box::new(error))),
        }
    }

    /// Moves the checkpoint first, then writes the rows, in one transaction. The order does not
    /// change what commits, but it takes the checkpoint's row lock before any of the table's,
    /// the order a [`rebuild`]'s swap takes them in too: the swap and a batch never wait for
    /// each other in a cycle, and a batch that waited for a swap fails at once (its checkpoint
    /// moved), before it reads a row.
    async fn handle(
        &self,
        batch: &[RecordedEvent],
        checkpoint: CheckpointMove,
        _fence: &mut Fence,
    ) -> Result<(), FollowError> {
        let events = account_events(batch)?;
        let table = self.projection.table();
        let mut tx = self.database.begin_derived_write().await?;
        checkpoint.commit_with(&mut tx).await?;
        match self.faults.fail_after() {
            // A test's fault: apply part of the batch, then fail before the commit.
            Some(part) if part < events.len() => {
                self.projection
                    .write_batch(&mut tx, table, &events[..part])
                    .await?;
                return Err(FollowError::Failed(Box::new(InjectedFault(part))));
            }
            _ => self.projection.write_batch(&mut tx, table, &events).await?,
        }
        tx.commit().await?;
        Ok(())
    }
}

/// A batch failed on purpose, from a test.
#[derive(Debug, thiserror::Error)]
#[error("injected failure after {0} events of the batch")]
pub struct InjectedFault(usize);

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

    /// After how many events of a batch it must fail, if armed.
    fn fail_after(&self) -> Option<usize> {
        usize::try_from(self.fail_after.load(Ordering::SeqCst)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What lets [`StoredRows::narrow`] bound a list of UUIDs by its least and greatest: they
    /// sort as their bytes (PostgreSQL's order) and as their text (SQLite's, which stores them
    /// lowercase and hyphenated).
    #[test]
    fn uuids_sort_as_their_bytes_and_as_their_text() {
        // Spread over every byte by an odd multiplier (a bijection of u128).
        let mut ids: Vec<uuid::Uuid> = (0..1_000_u128)
            .map(|n| uuid::Uuid::from_u128(n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)))
            .collect();
        ids.sort();
        let mut by_bytes = ids.clone();
        by_bytes.sort_by_key(|id| *id.as_bytes());
        let mut by_text = ids.clone();
        by_text.sort_by_key(|id| id.hyphenated().to_string());
        const { assert!(<uuid::Uuid as RowKey>::SORTS_AS_IN_SQL) };
        assert_eq!(by_bytes, ids);
        assert_eq!(by_text, ids);
    }

    #[test]
    fn stored_rows_narrow_to_the_keys_that_parse_and_end_on_a_key_that_does_not() {
        let select = || "SELECT k FROM t".to_owned();
        let id = uuid::Uuid::now_v7().to_string();
        let keys = [id.clone(), "not an id".to_owned()];
        let some = StoredRows::Keys(&keys).narrow::<uuid::Uuid>(select(), "k");
        assert_eq!(
            some.sql(),
            "SELECT k FROM t WHERE k BETWEEN $1 AND $2 AND k IN ($3)"
        );
        let texts = ["b".to_owned(), "a".to_owned()];
        let unordered = StoredRows::Keys(&texts).narrow::<String>(select(), "k");
        assert_eq!(unordered.sql(), "SELECT k FROM t WHERE k IN ($1, $2)");
        let none = StoredRows::Keys(&keys[1..]).narrow::<uuid::Uuid>(select(), "k");
        assert_eq!(none.sql(), "SELECT k FROM t WHERE 1 = 0");
        let first = StoredRows::After {
            after: None,
            limit: 9,
        }
        .narrow::<uuid::Uuid>(select(), "k");
        assert_eq!(first.sql(), "SELECT k FROM t WHERE 1 = 1 ORDER BY k LIMIT $1");
        let next = StoredRows::After {
            after: Some(&id),
            limit: 9,
        }
        .narrow::<uuid::Uuid>(select(), "k");
        assert_eq!(
            next.sql(),
            "SELECT k FROM t WHERE 1 = 1 AND k > $1 ORDER BY k LIMIT $2"
        );
        let broken = StoredRows::After {
            after: Some("?"),
            limit: 9,
        }
        .narrow::<uuid::Uuid>(select(), "k");
        assert_eq!(broken.sql(), "SELECT k FROM t WHERE 1 = 0");
    }
}
