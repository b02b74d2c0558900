//! The shape three read models share: one row per key (an account, a transfer, a currency),
//! folded in memory.
//!
//! `account_balances`, `transfers` and `ledger_totals` each keep one row per key and change it
//! with every event about that key. For each, a batch is applied the same way: read the rows of
//! the keys the batch names (one statement, or one per 32,000 keys), run the projection's pure
//! fold over them in memory, write back the rows that changed (one multi-row statement, cut
//! under the backends' bind limits). A rebuild keeps the rows in memory from one batch to the
//! next instead ([`Replay`]): into an empty copy, a key it does not hold has no row, so it reads
//! nothing, and it writes each row once at the end rather than once a batch. `verify` runs the
//! same fold, and compares the rows no later event changes as they settle. A read model says
//! only what is its own ([`KeyedRow`]: its name, table, columns, key and fold); [`Keyed`] makes
//! it a [`Projection`], written once here. (`account_transactions` appends a row per movement
//! instead, and has its own [`Replay`].)

use std::collections::{HashMap, HashSet};
use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;

use crate::db::{MAX_BINDS, Param, Record, Transaction, query, upsert_rows};
use crate::projection::{
    Applied, InMemoryModel, Projection, ProjectionName, Replay, RowKey, Rows, StoredRows, TableStart,
};

/// A read-model row identified by one key column.
pub(crate) trait KeyedRow: Record + Clone + Debug + Send + Sync + 'static {
    type Key: RowKey + Eq + Hash + Display + Debug + Send + Sync;

    /// The read model's name (its checkpoint's, and `foldbank rebuild`'s argument).
    const NAME: ProjectionName;

    /// The table the read model lives in.
    const TABLE: &'static str;

    /// The primary key column.
    const KEY: &'static str;

    /// Every column, comma-separated, in the order of [`KeyedRow::values`].
    const COLUMNS: &'static str;

    fn key(&self) -> Self::Key;

    /// The row's values in the order of [`KeyedRow::COLUMNS`].
    fn values(&self) -> Vec<Param>;

    /// A `SELECT` of the row's columns from `table` (the live table, or a rebuild's copy),
    /// followed by `filter`.
    fn select_from(table: &str, filter: &str) -> String {
        format!("SELECT {} FROM {table} {filter}", Self::COLUMNS)
    }

    /// The keys of the rows `batch` may change (in any order, repeats allowed).
    fn keys_of(batch: &[Applied]) -> Vec<Self::Key>;

    /// Folds `batch` into `rows` (the rows of the keys it names, or every row); answers the
    /// keys whose row changed, each once. Pure: the same code runs on stored rows and in memory.
    fn fold(rows: &mut HashMap<Self::Key, Self>, batch: &[Applied]) -> Vec<Self::Key>;

    /// The row as [`Rows`] holds it: its key as text and its values.
    fn keyed(&self) -> (String, Vec<Param>) {
        (self.key().to_string(), self.values())
    }

    /// Whether no later event can change this row (a settled transfer): `verify` then
    /// compares it at once and forgets it. By default never.
    fn is_settled(&self) -> bool {
        false
    }

    /// The rows of `table` that `which` names as stored, for `verify`: by default as
    /// [`KeyedRow::values`] gives them.
    fn stored(
        tx: &mut Transaction,
        table: &str,
        which: StoredRows<'_>,
    ) -> impl Future<Output = Result<Vec<(String, Vec<Param>)>, sqlx::Error>> + Send {
        let select = which.narrow::<Self::Key>(Self::select_from(table, ""), Self::KEY);
        async move {
            let rows: Vec<Self> = select.fetch_all(tx).await?;
            Ok(rows.iter().map(Self::keyed).collect())
        }
    }
}

/// A read model of one row per key, as a [`Projection`].
#[derive(Debug)]
pub(crate) struct Keyed<R>(PhantomData<fn() -> R>);

impl<R> Default for Keyed<R> {
    fn default() -> Self {
        Keyed(PhantomData)
    }
}

#[async_trait::async_trait]
impl<R: KeyedRow> Projection for Keyed<R> {
    fn name(&self) -> ProjectionName {
        R::NAME
    }

    fn table(&self) -> &'static str {
        R::TABLE
    }

    fn key(&self) -> &'static str {
        R::KEY
    }

    fn columns(&self) -> &'static str {
        R::COLUMNS
    }

    fn replay(&self, table: TableStart, held_rows: usize) -> Box<dyn Replay> {
        Box::new(KeyedReplay::<R> {
            rows: HashMap::new(),
            changed: HashSet::new(),
            holds_every_row: table == TableStart::Empty,
            owns_the_table: table == TableStart::Empty,
            new: HashSet::new(),
            table,
            held_rows,
        })
    }

    fn in_memory(&self) -> Box<dyn InMemoryModel> {
        Box::new(InMemory::<R>(HashMap::new()))
    }

    async fn stored(
        &self,
        tx: &mut Transaction,
        table: &str,
        which: StoredRows<'_>,
    ) -> Result<Vec<(String, Vec<Param>)>, sqlx::Error> {
        R::stored(tx, table, which).await
    }
}

/// Rows written in one go by a flush into an empty table: their values are built a run at a
/// time, not all at once.
const BULK_ROWS: usize = 10_000;

/// The rows a [`Replay`] of a keyed read model holds between batches: those its batches
/// touched, written back when it flushes.
#[derive(Debug)]
struct KeyedReplay<R: KeyedRow> {
    rows: HashMap<R::Key, R>,
    /// The keys of the rows changed since the last flush.
    changed: HashSet<R::Key>,
    /// Whether `rows` is the whole table (it started empty and nothing was let go since): a
    /// key not in `rows` then has no row, and nothing need be read.
    holds_every_row: bool,
    /// Whether the table is empty but for what this replay wrote. Nothing written yet, its
    /// rows all go in with [`Transaction::insert_bulk`].
    table: TableStart,
    /// How many rows it holds at most before it writes them and lets them go.
    held_rows: usize,
    /// Whether no one else writes the table: it started empty (a rebuild's copy, which its
    /// lease keeps to itself). A row it did not find there is then known not to be there.
    owns_the_table: bool,
    /// The keys of rows made since the last flush that the table (which it owns) does not
    /// have: they go in by [`Transaction::insert_bulk`], with no upsert.
    new: HashSet<R::Key>,
}

#[async_trait::async_trait]
impl<R: KeyedRow> Replay for KeyedReplay<R> {
    /// Reads the rows of the keys `batch` names that it does not hold (one statement, or one
    /// per 32,000 keys), folds the batch into them, and remembers which changed. Past its
    /// held rows ([`HELD_ROWS`](crate::projection::HELD_ROWS) in a rebuild) it flushes and lets go of rows, and from then on reads the keys it
    /// does not hold.
    async fn fold(
        &mut self,
        tx: &mut Transaction,
        table: &str,
        batch: &[Applied],
    ) -> Result<(), sqlx::Error> {
        if !self.holds_every_row {
            let mut missing: Vec<R::Key> = R::keys_of(batch)
                .into_iter()
                .filter(|key| !self.rows.contains_key(key))
                .collect();
            // In key order, so that two writers of the same rows would lock them in the same
            // order.
            missing.sort_unstable();
            missing.dedup();
            for keys in missing.chunks(MAX_BINDS) {
                let stored: Vec<R> = query(R::select_from(table, &format!("WHERE {} IN (", R::KEY)))
                    .values_list(keys.iter().cloned())
                    .push(")")
                    .fetch_all(&mut *tx)
                    .await?;
                self.rows.extend(stored.into_iter().map(|row| (row.key(), row)));
            }
            if self.owns_the_table {
                self.new
                    .extend(missing.into_iter().filter(|key| !self.rows.contains_key(key)));
            }
        }
        self.changed.extend(R::fold(&mut self.rows, batch));
        if self.rows.len() > self.held_rows {
            // Written, then let go: the settled rows first (no later event changes them, but
            // one may still name them), all of them if that is not enough.
            self.flush(tx, table).await?;
            self.rows.retain(|_, row| !row.is_settled());
            if self.rows.len() > self.held_rows / 2 {
                self.rows.clear();
            }
            self.holds_every_row = false;
        }
        Ok(())
    }

    /// Writes back the rows changed since the last flush, in key order: one multi-row
    /// statement, cut under the backends' bind limits. Rows the table is known not to have (all
    /// of them, into an empty table; then those made since the last flush, into a table this
    /// replay owns) go in by [`Transaction::insert_bulk`]: no upsert, `COPY` on PostgreSQL.
    async fn flush(&mut self, tx: &mut Transaction, table: &str) -> Result<(), sqlx::Error> {
        let mut changed: Vec<R::Key> = self.changed.drain().collect();
        changed.sort_unstable();
        let new = std::mem::take(&mut self.new);
        let (inserted, updated): (Vec<R::Key>, Vec<R::Key>) = if self.table == TableStart::Empty {
            // The first write into an empty table: every row is new.
            self.table = TableStart::Stored;
            (changed, Vec::new())
        } else {
            changed.into_iter().partition(|key| new.contains(key))
        };
        for keys in inserted.chunks(BULK_ROWS) {
            let values: Vec<Vec<Param>> = keys
                .iter()
                .filter_map(|key| self.rows.get(key))
                .map(R::values)
                .collect();
            tx.insert_bulk(table, R::COLUMNS, values).await?;
        }
        let per_statement = MAX_BINDS / R::COLUMNS.split(',').count();
        // A statement's values at a time, not all of them: a flush at the end of a rebuild
        // may write hundreds of thousands of rows.
        for keys in updated.chunks(per_statement) {
            let values = keys.iter().filter_map(|key| self.rows.get(key)).map(R::values);
            upsert_rows(table, R::KEY, R::COLUMNS, values)
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

/// The read model in memory, every row by its key: what `verify` folds the log into.
#[derive(Debug)]
struct InMemory<R: KeyedRow>(HashMap<R::Key, R>);

impl<R: KeyedRow> InMemoryModel for InMemory<R> {
    fn fold(&mut self, batch: &[Applied]) {
        R::fold(&mut self.0, batch);
    }

    fn take_settled(&mut self) -> Rows {
        let settled: Vec<R::Key> = self
            .0
            .values()
            .filter(|row| row.is_settled())
            .map(R::key)
            .collect();
        let rows = settled.iter().filter_map(|key| self.0.remove(key));
        Rows::new(R::COLUMNS, rows.map(|row| row.keyed()).collect::<Vec<_>>())
    }

    fn rows(&self) -> Rows {
        Rows::new(R::COLUMNS, self.0.values().map(R::keyed))
    }
}
