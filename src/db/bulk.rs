//! Many rows into a table at once, at the speed each backend takes them: what a rebuild fills
//! its copies with.
//!
//! A multi-row `INSERT` of thousands of rows is a new statement every time (its text changes
//! with its row count), parsed and planned again, with every value bound one by one. PostgreSQL
//! has a path made for loading, `COPY ... FROM STDIN`: the rows stream in as text lines, with
//! no statement to parse. SQLite has no such path; what it does fastest is one prepared
//! statement run again and again in one transaction, so the rows go in fixed runs of one
//! multi-row `INSERT` whose text never changes, kept prepared (the last, shorter run is a
//! statement of its own).

use std::fmt::Write as _;

use chrono::SecondsFormat;

use crate::db::query::{Param, insert_rows};
use crate::db::{Transaction, TransactionInner};

/// Parameters of one SQLite run at most: the default limit of SQLite builds before 3.32, and
/// a statement small enough that keeping it prepared costs little.
const SQLITE_RUN_BINDS: usize = 999;

impl Transaction {
    /// Inserts `rows` into `table`, each its values in the order of the comma-separated
    /// `columns`; answers how many it inserted. Meant for a table only this transaction writes
    /// (no `ON CONFLICT`: a row whose key is there already fails the whole call).
    pub async fn insert_bulk(
        &mut self,
        table: &str,
        columns: &str,
        rows: Vec<Vec<Param>>,
    ) -> Result<u64, sqlx::Error> {
        if rows.is_empty() {
            return Ok(0);
        }
        match &mut self.inner {
            TransactionInner::Postgres(tx) => {
                let mut copy = tx
                    .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
                    .await?;
                let mut text = String::with_capacity(rows.len() * 256);
                for row in &rows {
                    copy_line(&mut text, row);
                }
                copy.send(text.as_bytes()).await?;
                copy.finish().await
            }
            TransactionInner::Sqlite { .. } => {
                let width = rows.first().map_or(1, Vec::len).max(1);
                let per_run = (SQLITE_RUN_BINDS / width).max(1);
                let mut inserted = 0;
                let mut rows = rows.into_iter().peekable();
                while rows.peek().is_some() {
                    let run: Vec<Vec<Param>> = rows.by_ref().take(per_run).collect();
                    let full = run.len() == per_run;
                    inserted += insert_rows(table, columns, run)
                        .kept_prepared(full)
                        .execute(&mut *self)
                        .await?;
                }
                Ok(inserted)
            }
        }
    }
}

/// Appends `row` to `text` as one line of `COPY`'s text format: values separated by tabs, `\N`
/// for `NULL`, and a backslash before the characters that would end a value or a line.
fn copy_line(text: &mut String, row: &[Param]) {
    for (n, value) in row.iter().enumerate() {
        if n > 0 {
            text.push('\t');
        }
        // `write!` to a `String` cannot fail.
        let _ = match value {
            Param::Int(Some(value)) => write!(text, "{value}"),
            Param::Int32(Some(value)) => write!(text, "{value}"),
            Param::Int128(Some(value)) => write!(text, "{value}"),
            Param::Bool(Some(value)) => write!(text, "{}", if *value { 't' } else { 'f' }),
            Param::Uuid(Some(value)) => write!(text, "{value}"),
            // As sqlx binds a time: to the microsecond, the rest cut off.
            Param::Time(Some(value)) => {
                write!(text, "{}", value.to_rfc3339_opts(SecondsFormat::Micros, true))
            }
            Param::Text(Some(value)) => {
                escape_into(text, value);
                Ok(())
            }
            Param::Json(value) => {
                escape_into(text, &value.to_string());
                Ok(())
            }
            Param::Int(None)
            | Param::Int32(None)
            | Param::Int128(None)
            | Param::Bool(None)
            | Param::Uuid(None)
            | Param::Time(None)
            | Param::Text(None) => write!(text, "\\N"),
        };
    }
    text.push('\n');
}

/// `value` as a `COPY` text field: backslash, tab, newline and carriage return escaped.
fn escape_into(text: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => text.push_str("\\\\"),
            '\t' => text.push_str("\\t"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            c => text.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_copy_line_escapes_what_would_end_a_value_and_marks_nulls() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("valid")
            + chrono::Duration::nanoseconds(1_234_567);
        let mut text = String::new();
        copy_line(
            &mut text,
            &[
                Param::from(-5_i64),
                Param::from("a\tb\\c\nd\re".to_owned()),
                Param::Text(None),
                Param::from(at),
                Param::Bool(Some(true)),
                Param::Int128(Some(i128::from(i64::MAX) * 2)),
            ],
        );
        assert_eq!(
            text,
            "-5\ta\\tb\\\\c\\nd\\re\t\\N\t2026-01-02T03:04:05.001234Z\tt\t18446744073709551614\n"
        );
    }
}
