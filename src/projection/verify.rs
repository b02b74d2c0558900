//! `foldbank verify`: are the read models what the log says they should be?
//!
//! Replays the whole log into fresh read models held in memory ([`Projection::in_memory`](super::Projection::in_memory): the
//! projections' own fold, with no database) and compares them row by row with the stored
//! tables. A difference means a read model was written by other code than the fold (a bug
//! since fixed, a hand-made change) and is what `foldbank rebuild` repairs.
//!
//! Memory does not grow with the log: a row no later event can change (a movement, a settled
//! transfer) leaves the fold as soon as it is made and is compared with the table in chunks of
//! [`CHUNK`] keys; only the open rows (one per account, per transfer in flight, per currency)
//! and an 8-byte fingerprint per key stay. Rows stored under a key the fold never made are
//! found last, by a walk of the table in key order when its count exceeds the rows matched.
//! Differences are counted; the first [`KEPT`] are kept with their values.
//!
//! Each table is compared at the position it reflects: its rows and its checkpoint are read in
//! one snapshot (one read transaction for the whole run: on SQLite the WAL cannot be
//! checkpointed past it, and on PostgreSQL vacuum waits for it, until verify ends), and the log
//! is replayed into its model up to that checkpoint only. So verify
//! may run beside a service whose projectors keep moving, and compares each read model with
//! the log as far as that read model has come. Events a projection parked are left out of its
//! replay, as the projection left them out (see `GET /projections`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use crate::db::{Database, Param, Transaction, query};
use crate::follow::parking::set_aside;
use crate::follow::read_checkpoint;
use crate::projection::{
    Applied, InMemoryModel, Progress, Projection, ReadAhead, ReadAheadError, Rows, StoredRows, all,
};
use crate::store::{EventStore, StoreError};

/// Events read from the log at a time.
const BATCH: i64 = 10_000;

/// Rows compared per statement: settled rows gather until there are this many.
const CHUNK: usize = 5_000;

/// Differences shown per table; the summary line counts them all.
const SHOWN: usize = 5;

/// Differences kept per table (with their values); the rest are only counted.
const KEPT: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the task reading the log stopped before its end")]
    ReaderStopped,
}

impl From<ReadAheadError> for VerifyError {
    fn from(error: ReadAheadError) -> Self {
        match error {
            ReadAheadError::Store(error) => VerifyError::Store(error),
            ReadAheadError::ReaderStopped => VerifyError::ReaderStopped,
        }
    }
}

/// What verify found, table by table. Its `Display` is the report `foldbank verify` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub tables: Vec<TableReport>,
}

impl Verification {
    /// Whether every table equals the fold of the log.
    pub fn is_consistent(&self) -> bool {
        self.tables.iter().all(|table| table.counts.total() == 0)
    }
}

/// One table compared with the fold of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct TableReport {
    pub table: &'static str,
    /// The table's checkpoint: the log was replayed up to this position.
    pub position: i64,
    /// Rows stored.
    pub rows: usize,
    /// Events the projection parked, left out of the replay.
    pub parked: usize,
    /// The first 1,000 differences, in key order: a table wiped by mistake must not bring
    /// the whole table back into memory.
    pub differences: Vec<Difference>,
    /// Every difference, counted.
    pub counts: DifferenceCounts,
}

/// How many rows differ, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DifferenceCounts {
    pub missing: usize,
    pub extra: usize,
    pub different: usize,
}

impl DifferenceCounts {
    pub fn of(differences: &[Difference]) -> Self {
        let mut counts = DifferenceCounts::default();
        differences.iter().for_each(|difference| counts.add(difference));
        counts
    }

    pub fn total(&self) -> usize {
        self.missing + self.extra + self.different
    }

    fn add(&mut self, difference: &Difference) {
        match difference {
            Difference::Missing { .. } => self.missing += 1,
            Difference::Extra { .. } => self.extra += 1,
            Difference::Different { .. } => self.different += 1,
        }
    }
}

/// A row that differs between the table and the fold of the log. Values are `(column, value)`.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// The fold has the row, the table does not.
    Missing {
        key: String,
        expected: Vec<(&'static str, Param)>,
    },
    /// The table has a row the fold does not.
    Extra {
        key: String,
        stored: Vec<(&'static str, Param)>,
    },
    /// Both have the row; the columns listed differ, as `(column, stored, expected)`.
    Different {
        key: String,
        columns: Vec<(&'static str, Param, Param)>,
    },
}

impl Difference {
    pub fn key(&self) -> &str {
        match self {
            Difference::Missing { key, .. }
            | Difference::Extra { key, .. }
            | Difference::Different { key, .. } => key,
        }
    }
}

/// Replays the log into in-memory read models and compares them with the stored tables (see
/// the module docs).
pub async fn verify(
    database: &Database,
    store: &Arc<dyn EventStore>,
    mut progress: Progress,
) -> Result<Verification, VerifyError> {
    // One read transaction for the whole run: every chunk of every table is read from the
    // snapshot the checkpoints were read in.
    let mut tx = database.begin_read().await?;
    let set_aside = set_aside(&mut tx).await?;
    let mut checks = Vec::new();
    for projection in all() {
        let name = projection.name().as_str();
        let position = read_checkpoint(&mut tx, name).await?.unwrap_or(0);
        // Parked and skipped events: the live follower left them out, so does the fold.
        let parked = set_aside
            .iter()
            .filter(|event| event.follower == name)
            .map(|event| event.position)
            .collect();
        checks.push(TableCheck::new(projection, position, parked));
    }

    let until = checks.iter().map(|check| check.position).max().unwrap_or(0);
    progress.aim_at(until);
    // The next page of the log is read and decoded while this one is folded and compared.
    let mut pages = ReadAhead::start(store, 0, until, BATCH);
    while let Some(page) = pages.next().await? {
        let position = page.up_to;
        // An event no model replays (it was parked) may fail to decode.
        let wanted = |model: usize, position: i64| checks[model].wants(position);
        let events = page.wanted(checks.len(), wanted).map_err(|(_, _, error)| error)?;
        for check in &mut checks {
            check.fold(&events);
            check.compare_settled(&mut tx, Settled::Now).await?;
        }
        progress.reached(position);
    }
    progress.finish();

    let mut tables = Vec::with_capacity(checks.len());
    for mut check in checks {
        check.compare_settled(&mut tx, Settled::AtTheEnd).await?;
        tables.push(check.report(&mut tx).await?);
    }
    tx.commit().await?;
    Ok(Verification { tables })
}

/// Which rows of the model [`TableCheck::compare_settled`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Those no later event can change, once enough have gathered.
    Now,
    /// Every row left, the log being folded up to the table's checkpoint.
    AtTheEnd,
}

/// One read model under verification: its fold of the log so far, and what has been compared.
///
/// Memory holds the rows still open (an account's, a transfer in flight), the rows settled
/// but not yet compared (at most [`CHUNK`]), a fingerprint of each key the fold has produced,
/// and the differences: not the table.
struct TableCheck {
    projection: Arc<dyn Projection>,
    model: Box<dyn InMemoryModel>,
    /// The table's checkpoint: the log is folded up to here.
    position: i64,
    /// Events the projection set aside, left out of the fold.
    parked: HashSet<i64>,
    /// A fingerprint of every key the fold produced. A later row of a key already produced is
    /// left out, as the table's insert leaves it; a stored key not here is an extra row. (Two
    /// keys share a 64-bit fingerprint with a chance of about n²/2⁶⁵, 10⁻⁶ at six million rows:
    /// verify would then leave one of them out of the comparison. The hash is keyed afresh by
    /// every run, so ids chosen by clients cannot be made to collide on purpose.)
    folded: HashSet<u64>,
    hasher: RandomState,
    /// Settled rows not compared yet.
    pending: Rows,
    /// Stored rows found for keys of the fold.
    matched: usize,
    differences: Vec<Difference>,
    counts: DifferenceCounts,
}

impl TableCheck {
    fn new(projection: Arc<dyn Projection>, position: i64, parked: HashSet<i64>) -> Self {
        let model = projection.in_memory();
        TableCheck {
            pending: Rows {
                columns: model.rows().columns,
                rows: BTreeMap::new(),
            },
            projection,
            model,
            position,
            parked,
            folded: HashSet::new(),
            hasher: RandomState::new(),
            matched: 0,
            differences: Vec::new(),
            counts: DifferenceCounts::default(),
        }
    }

    fn wants(&self, position: i64) -> bool {
        position <= self.position && !self.parked.contains(&position)
    }

    fn fold(&mut self, events: &[Applied]) {
        let kept: Vec<Applied> = events
            .iter()
            .filter(|(recorded, _)| self.wants(recorded.global_position))
            .map(|(recorded, event)| (*recorded, event.clone()))
            .collect();
        if !kept.is_empty() {
            self.model.fold(&kept);
        }
    }

    /// Compares the rows `settled` names with the table, a chunk of keys per statement.
    async fn compare_settled(&mut self, tx: &mut Transaction, settled: Settled) -> Result<(), VerifyError> {
        let rows = match settled {
            Settled::Now => self.model.take_settled(),
            Settled::AtTheEnd => self.model.rows(),
        };
        for (key, values) in rows.rows {
            if self.folded.insert(self.hasher.hash_one(&key)) {
                self.pending.rows.insert(key, values);
            }
        }
        if self.pending.rows.len() < CHUNK && settled == Settled::Now {
            return Ok(());
        }
        let expected = std::mem::take(&mut self.pending.rows);
        let keys: Vec<String> = expected.keys().cloned().collect();
        let mut stored = BTreeMap::new();
        for keys in keys.chunks(CHUNK) {
            let table = self.projection.table();
            stored.extend(self.projection.stored(tx, table, StoredRows::Keys(keys)).await?);
        }
        self.matched += stored.len();
        let columns = self.pending.columns.clone();
        let differences = compare(
            &Rows {
                columns: columns.clone(),
                rows: stored,
            },
            &Rows {
                columns,
                rows: expected,
            },
        );
        self.record(differences);
        Ok(())
    }

    /// Counts `differences`, and keeps them while fewer than [`KEPT`] are.
    fn record(&mut self, differences: Vec<Difference>) {
        for difference in differences {
            self.counts.add(&difference);
            if self.differences.len() < KEPT {
                self.differences.push(difference);
            }
        }
    }

    /// The report, once every row of the fold is compared: the rows stored under keys the fold
    /// never produced are extra, found by a walk of the table when its count says there are.
    async fn report(mut self, tx: &mut Transaction) -> Result<TableReport, VerifyError> {
        let table = self.projection.table();
        let count: i64 = query(format!("SELECT COUNT(*) FROM {table}"))
            .fetch_scalar(&mut *tx)
            .await?;
        let rows = usize::try_from(count).unwrap_or(0);
        if rows > self.matched {
            self.extras(tx).await?;
        }
        self.differences.sort_by(|a, b| a.key().cmp(b.key()));
        let parked = self.parked.iter().filter(|parked| **parked <= self.position);
        Ok(TableReport {
            table,
            position: self.position,
            rows,
            parked: parked.count(),
            differences: self.differences,
            counts: self.counts,
        })
    }

    /// Records the stored rows the fold has no key for.
    async fn extras(&mut self, tx: &mut Transaction) -> Result<(), VerifyError> {
        let mut after: Option<String> = None;
        loop {
            let which = StoredRows::After {
                after: after.as_deref(),
                limit: CHUNK as i64,
            };
            let page = self.projection.stored(tx, self.projection.table(), which).await?;
            let full = page.len() >= CHUNK;
            after = page.last().map(|(key, _)| key.clone());
            let extras: Vec<Difference> = page
                .into_iter()
                .filter(|(key, _)| !self.folded.contains(&self.hasher.hash_one(key)))
                .map(|(key, values)| Difference::Extra {
                    key,
                    stored: self.pending.columns.iter().copied().zip(values).collect(),
                })
                .collect();
            self.record(extras);
            if !full {
                return Ok(());
            }
        }
    }
}

/// The rows that differ between `stored` and `expected`, in key order.
fn compare(stored: &Rows, expected: &Rows) -> Vec<Difference> {
    let named = |values: &[Param]| -> Vec<(&'static str, Param)> {
        expected
            .columns
            .iter()
            .copied()
            .zip(values.iter().cloned())
            .collect()
    };
    let keys: BTreeSet<&String> = stored.rows.keys().chain(expected.rows.keys()).collect();
    keys.into_iter()
        .filter_map(|key| match (stored.rows.get(key), expected.rows.get(key)) {
            (Some(stored), Some(expected)) if stored == expected => None,
            (Some(stored_values), Some(expected_values)) => Some(Difference::Different {
                key: key.clone(),
                columns: expected
                    .columns
                    .iter()
                    .zip(stored_values.iter().zip(expected_values))
                    .filter(|(_, (stored, expected))| stored != expected)
                    .map(|(column, (stored, expected))| (*column, stored.clone(), expected.clone()))
                    .collect(),
            }),
            (Some(stored), None) => Some(Difference::Extra {
                key: key.clone(),
                stored: named(stored),
            }),
            (None, Some(expected)) => Some(Difference::Missing {
                key: key.clone(),
                expected: named(expected),
            }),
            (None, None) => None,
        })
        .collect()
}

/// `column=value, column=value`.
fn values<'a>(values: impl IntoIterator<Item = (&'a str, &'a Param)>) -> String {
    values
        .into_iter()
        .map(|(column, value)| format!("{column}={value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Difference {
    /// `key: stored ...; expected ...`, naming only the columns that differ when both exist.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { key, expected } => write!(
                f,
                "{key}: stored no row; expected {}",
                values(expected.iter().map(|(column, value)| (*column, value)))
            ),
            Difference::Extra { key, stored } => write!(
                f,
                "{key}: stored {}; expected no row",
                values(stored.iter().map(|(column, value)| (*column, value)))
            ),
            Difference::Different { key, columns } => write!(
                f,
                "{key}: stored {}; expected {}",
                values(columns.iter().map(|(column, stored, _)| (*column, stored))),
                values(columns.iter().map(|(column, _, expected)| (*column, expected)))
            ),
        }
    }
}

impl fmt::Display for TableReport {
    /// The first few differences, `table key: stored ...; expected ...`, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for difference in self.differences.iter().take(SHOWN) {
            writeln!(f, "{} {difference}", self.table)?;
        }
        let total = self.counts.total();
        if total > SHOWN {
            writeln!(f, "{} ... and {} more", self.table, total - SHOWN)?;
        }
        let parked = match self.parked {
            0 => String::new(),
            parked => format!(", {parked} parked events left out"),
        };
        if total == 0 {
            write!(
                f,
                "{}: {} rows, equal to the log up to position {}{parked}",
                self.table, self.rows, self.position
            )
        } else {
            write!(
                f,
                "{}: {} rows, {total} differ from the log up to position {} ({} missing, {} extra, {} different){parked}",
                self.table,
                self.rows,
                self.position,
                self.counts.missing,
                self.counts.extra,
                self.counts.different,
            )
        }
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for table in &self.tables {
            writeln!(f, "{table}")?;
        }
        let differing = self
            .tables
            .iter()
            .filter(|table| table.counts.total() > 0)
            .count();
        match differing {
            0 => write!(f, "every read model equals the fold of the log"),
            _ => write!(
                f,
                "{differing} of {} read models differ from the fold of the log; \
                 `foldbank rebuild` replays the log into them",
                self.tables.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(entries: &[(&str, i64, &str)]) -> Rows {
        Rows::new(
            "id, n, s",
            entries.iter().map(|(key, n, s)| {
                (
                    (*key).to_owned(),
                    vec![Param::from(*key), Param::from(*n), Param::from(*s)],
                )
            }),
        )
    }

    #[test]
    fn differences_name_the_missing_the_extra_and_the_columns_that_differ() {
        let stored = rows(&[("a", 1, "x"), ("b", 2, "y"), ("d", 4, "w")]);
        let expected = rows(&[("a", 1, "x"), ("b", 3, "y"), ("c", 3, "z")]);
        let differences = compare(&stored, &expected);
        let lines: Vec<String> = differences.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "b: stored n=2; expected n=3",
                "c: stored no row; expected id=\"c\", n=3, s=\"z\"",
                "d: stored id=\"d\", n=4, s=\"w\"; expected no row",
            ]
        );
    }

    #[test]
    fn a_report_shows_the_first_differences_and_counts_them_all() {
        let stored = rows(&[]);
        let expected = rows(&[
            ("a", 1, ""),
            ("b", 1, ""),
            ("c", 1, ""),
            ("d", 1, ""),
            ("e", 1, ""),
            ("f", 1, ""),
        ]);
        let report = TableReport {
            table: "t",
            position: 9,
            rows: 0,
            parked: 0,
            counts: DifferenceCounts::of(&compare(&stored, &expected)),
            differences: compare(&stored, &expected),
        };
        let text = report.to_string();
        assert_eq!(
            text.lines()
                .filter(|line| line.starts_with("t a") || line.starts_with("t e"))
                .count(),
            2
        );
        assert!(!text.contains("t f:"), "{text}");
        assert!(text.contains("t ... and 1 more"), "{text}");
        assert!(
            text.ends_with(
                "t: 0 rows, 6 differ from the log up to position 9 (6 missing, 0 extra, 0 different)"
            ),
            "{text}"
        );
    }
}
