//! `foldbank verify`: are the read models what the log says they should be?
//!
//! Replays the whole log into fresh read models held in memory ([`Projection::in_memory`](super::Projection::in_memory): the
//! projections' own fold, with no database) and compares them row by row with the stored
//! tables. A difference means a read model was written by other code than the fold (a bug
//! since fixed, a hand-made change) and is what `foldbank rebuild` repairs.
//!
//! Each table is compared at the position it reflects: its rows and its checkpoint are read in
//! one snapshot, and the log is replayed into its model up to that checkpoint only. So verify
//! may run beside a service whose projectors keep moving, and compares each read model with
//! the log as far as that read model has come. Events a projection parked are left out of its
//! replay, as the projection left them out (see `GET /projections`).

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use crate::db::{Database, Param};
use crate::follow::parking::set_aside;
use crate::follow::read_checkpoint;
use crate::projection::{Applied, InMemoryModel, Progress, Rows, all, wanted_account_events};
use crate::store::{EventStore, StoreError};

/// Events read from the log at a time.
const BATCH: i64 = 1_000;

/// Differences shown per table; the summary line counts them all.
const SHOWN: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What verify found, table by table. Its `Display` is the report `foldbank verify` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub tables: Vec<TableReport>,
}

impl Verification {
    /// Whether every table equals the fold of the log.
    pub fn is_consistent(&self) -> bool {
        self.tables.iter().all(|table| table.differences.is_empty())
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
    pub differences: Vec<Difference>,
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
    store: &dyn EventStore,
    mut progress: Progress,
) -> Result<Verification, VerifyError> {
    let projections = all();
    let mut stored = Vec::with_capacity(projections.len());
    let mut tx = database.begin_read().await?;
    for projection in &projections {
        let position = read_checkpoint(&mut tx, projection.name().as_str())
            .await?
            .unwrap_or(0);
        stored.push((position, projection.stored(&mut tx, projection.table()).await?));
    }
    // Parked and skipped events: the live followers left them out, so does the fold.
    let parked: Vec<HashSet<i64>> = {
        let parked = set_aside(&mut tx).await?;
        projections
            .iter()
            .map(|projection| {
                parked
                    .iter()
                    .filter(|event| event.follower == projection.name().as_str())
                    .map(|event| event.position)
                    .collect()
            })
            .collect()
    };
    tx.commit().await?;

    let mut models: Vec<Box<dyn InMemoryModel>> = projections
        .iter()
        .map(|projection| projection.in_memory())
        .collect();
    let until = stored.iter().map(|(position, _)| *position).max().unwrap_or(0);
    let wanted =
        |model: usize, position: i64| position <= stored[model].0 && !parked[model].contains(&position);
    progress.aim_at(until);
    let mut position = 0;
    while position < until {
        let batch = store.read_all(position, BATCH).await?;
        let Some(last) = batch.last().map(|event| event.global_position) else {
            break;
        };
        // An event no model replays (it was parked) need not decode.
        let events = wanted_account_events(&batch, models.len(), wanted).map_err(|(_, _, error)| error)?;
        for (index, model) in models.iter_mut().enumerate() {
            let kept: Vec<Applied<'_>> = events
                .iter()
                .filter(|(recorded, _)| wanted(index, recorded.global_position))
                .map(|(recorded, event)| (*recorded, event.clone()))
                .collect();
            model.fold(&kept);
        }
        position = last;
        progress.reached(position.min(until));
    }
    progress.finish();

    let tables = projections
        .iter()
        .zip(stored)
        .zip(models)
        .zip(&parked)
        .map(|(((projection, (position, rows)), model), parked)| TableReport {
            table: projection.table(),
            position,
            rows: rows.rows.len(),
            parked: parked.iter().filter(|parked| **parked <= position).count(),
            differences: compare(&rows, &model.rows()),
        })
        .collect();
    Ok(Verification { tables })
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
        if self.differences.len() > SHOWN {
            writeln!(
                f,
                "{} ... and {} more",
                self.table,
                self.differences.len() - SHOWN
            )?;
        }
        let parked = match self.parked {
            0 => String::new(),
            parked => format!(", {parked} parked events left out"),
        };
        if self.differences.is_empty() {
            write!(
                f,
                "{}: {} rows, equal to the log up to position {}{parked}",
                self.table, self.rows, self.position
            )
        } else {
            let count = |kind: fn(&Difference) -> bool| self.differences.iter().filter(|d| kind(d)).count();
            write!(
                f,
                "{}: {} rows, {} differ from the log up to position {} ({} missing, {} extra, {} different){parked}",
                self.table,
                self.rows,
                self.differences.len(),
                self.position,
                count(|d| matches!(d, Difference::Missing { .. })),
                count(|d| matches!(d, Difference::Extra { .. })),
                count(|d| matches!(d, Difference::Different { .. })),
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
            .filter(|table| !table.differences.is_empty())
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
