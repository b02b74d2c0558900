//! Connecting to the database named by `DATABASE_URL`: SQLite (embedded, the default) or
//! PostgreSQL. Chooses the backend from the URL scheme, tunes it, and runs the embedded
//! migrations of that backend (`migrations/sqlite/` or `migrations/postgres/`).
//!
//! Each backend keeps its own pool type rather than `sqlx::AnyPool`, so every adapter can use
//! its database's real types (UUID, JSONB, TIMESTAMPTZ on PostgreSQL).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long a SQLite connection waits for the write lock of another process before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected, migrated database.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqliteDatabase),
}

/// A SQLite pool plus the in-process queue for its single writer.
///
/// SQLite allows one write transaction at a time per file. Writers in this process (event
/// appends, projector batches) queue on an async mutex before `BEGIN IMMEDIATE`, so they are
/// woken in turn instead of polling SQLite's busy handler; writers in other processes are still
/// kept out by the file lock (they wait up to the busy timeout).
#[derive(Debug, Clone)]
pub struct SqliteDatabase {
    pub pool: SqlitePool,
    writer: Arc<Mutex<()>>,
}

/// A write transaction on SQLite, holding this process's writer slot until it drops.
#[derive(Debug)]
pub struct SqliteWrite {
    pub tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _writer: OwnedMutexGuard<()>,
}

impl SqliteDatabase {
    /// Waits for the writer slot, then opens a `BEGIN IMMEDIATE` transaction (which takes the
    /// database's write lock up front, before any read of the transaction).
    pub async fn begin_write(&self) -> Result<SqliteWrite, sqlx::Error> {
        let writer = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteWrite { tx, _writer: writer })
    }
}

impl SqliteWrite {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("unsupported DATABASE_URL scheme in {0:?}: use sqlite: or postgres:")]
    UnsupportedUrl(String),
    #[error("could not connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("could not run the database migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Database {
    /// Connects to `url`, then runs the migrations of its backend.
    ///
    /// On PostgreSQL one connection of the pool is kept by the projector's `LISTEN`, so the pool
    /// needs at least two.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        let database = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(DatabaseError::Connect)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(DatabaseError::Connect)?;
            Database::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(DatabaseError::Connect)?
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a committed event survives a power cut, which NORMAL does not promise in
                // WAL mode. The log is the truth, so durability wins over write speed.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
                // `INSERT OR REPLACE` deletes the old row without firing DELETE triggers unless
                // recursive triggers are on: with them, the append-only triggers catch it too.
                .pragma("recursive_triggers", "ON");
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(DatabaseError::Connect)?;
            Database::Sqlite(SqliteDatabase {
                pool,
                writer: Arc::new(Mutex::new(())),
            })
        } else {
            return Err(DatabaseError::UnsupportedUrl(redact(url)));
        };
        database.migrate().await?;
        Ok(database)
    }

    async fn migrate(&self) -> Result<(), DatabaseError> {
        match self {
            Database::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
            Database::Sqlite(sqlite) => sqlx::migrate!("migrations/sqlite").run(&sqlite.pool).await?,
        }
        Ok(())
    }

    /// `"postgres"` or `"sqlite"`, for logs and health output.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Postgres(_) => "postgres",
            Database::Sqlite(_) => "sqlite",
        }
    }

    /// Closes every connection; waits for checked-out ones to come back.
    pub async fn close(&self) {
        match self {
            Database::Postgres(pool) => pool.close().await,
            Database::Sqlite(sqlite) => sqlite.pool.close().await,
        }
    }
}

/// Keeps credentials out of error messages and logs.
fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.chars().take(16).collect(),
    }
}

/// Formats a timestamp the way the SQLite schema stores it: fixed-width UTC with microseconds,
/// so that comparing the text compares the instants.
pub(crate) fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a timestamp stored by [`sqlite_time`].
pub(crate) fn parse_sqlite_time(text: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|error| sqlx::Error::Decode(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn sqlite_times_sort_as_text_in_time_order() {
        let early = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).single().expect("valid");
        let later = early + chrono::Duration::microseconds(1);
        assert!(sqlite_time(early) < sqlite_time(later));
        assert_eq!(sqlite_time(early), "2026-01-02T03:04:05.000000Z");
        assert_eq!(parse_sqlite_time(&sqlite_time(later)).expect("parses"), later);
    }

    #[test]
    fn credentials_never_reach_error_messages() {
        assert!(!redact("mysql://user:secret@host/db").contains("secret"));
    }
}
