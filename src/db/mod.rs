//! The database edge: the only module that knows which database the service runs on.
//!
//! `DATABASE_URL` chooses SQLite (embedded, the default) or PostgreSQL. [`Database::connect`]
//! tunes the backend and runs its embedded migrations (`migrations/sqlite/` or
//! `migrations/postgres/`). Everything above this module writes each SQL statement once:
//!
//! - [`query`] builds a statement with backend-neutral parameters ([`Param`]) and runs it on a
//!   [`Database`] or inside a [`Transaction`];
//! - rows decode into `#[derive(sqlx::FromRow)]` types whose UUID, timestamp and wide-integer
//!   columns go through [`Stored`], which reads PostgreSQL's `UUID`/`TIMESTAMPTZ`/`NUMERIC`
//!   and SQLite's text the same way;
//! - [`Database::begin_write`] and [`Database::begin_read`] open the transaction each backend
//!   needs for a write or a consistent read; [`Transaction::lock_log`] serializes appends to
//!   the event log; [`coordination`] holds what only PostgreSQL offers across processes
//!   (`LISTEN`, advisory locks), and [`Lease`] what both do (one holder of a named piece of
//!   work at a time);
//! - [`Transaction::create_table_like`] copies a table's definition, where a rebuild writes a
//!   read model's next version (see `schema.rs`);
//! - [`Databases`] pairs the write database (the log) with the read database (the read
//!   models), the same one unless `READ_DATABASE_URL` names another;
//! - [`primary`] reads a PostgreSQL URL naming several hosts and keeps the pool on the one
//!   that is the primary, through failovers.
//!
//! # Why one statement for both backends, rather than a port with two adapters
//! The read models, checkpoints and the event log are plain SQL that both databases accept
//! (`$n` placeholders, `ON CONFLICT`, `excluded`). What differs is how values are stored
//! (SQLite keeps UUIDs and instants as text) and how transactions are opened. Both differences
//! live here, once; a port with two adapters would instead repeat every statement and row
//! mapper per backend, which is what made adding a column touch six places.
//!
//! Each backend keeps its own pool type rather than `sqlx::AnyPool`, so PostgreSQL keeps its
//! real column types (UUID, JSONB, TIMESTAMPTZ).

mod bulk;
mod column;
pub mod coordination;
mod lease;
pub mod primary;
mod query;
mod schema;
mod split;

pub use column::Stored;
pub use lease::{Lease, LeaseError};
use primary::{PgTargets, SessionTarget};
pub use query::{
    Executor, MAX_BINDS, Param, Query, Record, Scalar, in_statements, insert_rows, query, upsert_rows,
};
pub use schema::LookupIndex;
pub use split::Databases;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long a SQLite connection waits for the write lock of another process before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Rows a SQLite connection's thread may fetch ahead of the task reading them (sqlx's default
/// is 50): a page of the log is read with a few hundred thread switches, not thousands.
const SQLITE_ROW_BUFFER: usize = 1_024;

/// How long a query waits for a connection to a replica before it goes to the primary instead.
const REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a statement may run on a replica (its server's `statement_timeout`, in ms): the
/// HTTP side gives a replica's answer 2 s before it asks the primary.
const REPLICA_STATEMENT_TIMEOUT: &str = "2500";

/// The advisory lock key that serializes appends to the log ("foldbank" in ASCII, as an i64).
const APPEND_LOCK_KEY: i64 = 0x666f_6c64_6261_6e6b;

/// This build's migrations, embedded in the binary.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Which database engine a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A connected, migrated database. Cheap to clone: it is a pool handle.
/// A database pool's connections at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    pub pool: &'static str,
    pub size: u32,
    pub idle: usize,
}

#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
}

#[derive(Debug, Clone)]
enum Pool {
    Postgres(PgPool),
    Sqlite {
        pool: SqlitePool,
        /// Connections for writes of derived data (read models), which skip the fsync.
        derived: SqlitePool,
        /// The in-process queue for SQLite's single writer.
        ///
        /// SQLite allows one write transaction at a time per file. Writers in this process
        /// queue on this async mutex before `BEGIN IMMEDIATE`, so they are woken in turn
        /// instead of polling SQLite's busy handler (sleeps of up to 100 ms); writers in other
        /// processes are still kept out by the file lock (they wait up to the busy timeout).
        writer: Arc<Mutex<()>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("unsupported DATABASE_URL scheme in {0:?}: use sqlite: or postgres:")]
    UnsupportedUrl(String),
    #[error("could not connect to the database")]
    Connect(#[source] sqlx::Error),
    #[error("DATABASE_URL")]
    Hosts(#[from] primary::TargetsError),
    #[error("could not run the database migrations")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("a replica is a PostgreSQL hot standby named by a postgres:// URL with one host, not {0:?}")]
    ReplicaUrl(String),
}

/// The page cache of each connection writing read models, in KiB (SQLite's negative
/// `cache_size`): 32 MiB, two connections at most.
const DERIVED_CACHE_SIZE: &str = "-32768";

impl Database {
    /// Connects to `url`, then runs the migrations of its backend.
    ///
    /// On PostgreSQL one connection of the pool is kept by the projector's `LISTEN`, so the pool
    /// needs at least two.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        let pool = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // One host, or several of which the primary is followed (`primary`).
            let targets = PgTargets::parse(url)?;
            let (current, options) = if targets.is_several() {
                targets.find().await?
            } else {
                (0, targets.first().clone())
            };
            let target = if targets.is_several() {
                targets.target()
            } else {
                SessionTarget::Any
            };
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                // A broken connection fails its statement and is replaced; pinging every
                // checkout would add a round trip to every statement.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                // Never a connection to a standby when the URL asks for the primary: right
                // after a failover the pool may still be pointed at the old one.
                .after_connect(move |connection, _| {
                    Box::pin(async move {
                        if primary::fits(connection, target).await? {
                            Ok(())
                        } else {
                            Err(sqlx::Error::Configuration(
                                "connected to a standby, which takes no writes".into(),
                            ))
                        }
                    })
                })
                .connect_with(options)
                .await
                .map_err(DatabaseError::Connect)?;
            if targets.is_several() {
                tokio::spawn(primary::follow_the_primary(pool.clone(), targets, current));
            }
            Pool::Postgres(pool)
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
                .pragma("recursive_triggers", "ON")
                // An erased owner's key (`crate::privacy`) is overwritten where it was, not
                // only unlinked; FAST does so without writing any page it would not write anyway.
                .pragma("secure_delete", "FAST")
                // Each connection runs on a thread of its own and hands rows over through a
                // channel; with room for only 50, a replay reading pages of 10,000 events
                // spent more time switching threads than decoding rows.
                .row_buffer_size(SQLITE_ROW_BUFFER);
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options.clone())
                .await
                .map_err(DatabaseError::Connect)?;
            // Read models can be rebuilt from the log: their commits need not wait for the disk.
            // A later FULL commit syncs them along with its own frames of the shared WAL; a
            // power cut can only roll back a read model and its checkpoint together.
            let derived = SqlitePoolOptions::new()
                .max_connections(2)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                // Replays write read models of millions of rows: with SQLite's default cache
                // (2 MB) every batch reads their index pages from the OS again, a system call
                // per page.
                .connect_with(
                    options
                        .synchronous(SqliteSynchronous::Normal)
                        .pragma("cache_size", DERIVED_CACHE_SIZE),
                )
                .await
                .map_err(DatabaseError::Connect)?;
            Pool::Sqlite {
                pool,
                derived,
                writer: Arc::new(Mutex::new(())),
            }
        } else {
            return Err(DatabaseError::UnsupportedUrl(redact(url)));
        };
        let database = Database { pool };
        database.migrate().await?;
        Ok(database)
    }

    /// Opens a pool on a hot standby of the read database, for queries only.
    ///
    /// No migrations: a standby takes no writes, and its schema is the primary's, replicated.
    /// Sessions are read-only, so a URL that names a primary by mistake cannot be written
    /// through. The pool connects lazily: a standby that is down when the service starts is
    /// tried again when queries come (meanwhile they go to the primary), and a short acquire
    /// timeout bounds how long a query waits for one that went away before it falls back.
    pub fn connect_replica(url: &str, max_connections: u32) -> Result<Self, DatabaseError> {
        let targets = PgTargets::parse(url).map_err(|_| DatabaseError::ReplicaUrl(redact(url)))?;
        if targets.is_several() {
            return Err(DatabaseError::ReplicaUrl(redact(url)));
        }
        // A query a replica has not answered in time is given up here and must not run on
        // there, holding its connection: the server ends it too.
        let options = targets.first().clone().options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", REPLICA_STATEMENT_TIMEOUT),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .test_before_acquire(false)
            .acquire_timeout(REPLICA_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(Database {
            pool: Pool::Postgres(pool),
        })
    }

    /// `host:port/database` of a PostgreSQL database, with no credentials: how metrics and
    /// logs name a replica. `None` on SQLite.
    pub fn address(&self) -> Option<String> {
        match &self.pool {
            Pool::Postgres(pool) => {
                let options = pool.connect_options();
                Some(format!(
                    "{}:{}/{}",
                    options.get_host(),
                    options.get_port(),
                    options.get_database().unwrap_or_default()
                ))
            }
            Pool::Sqlite { .. } => None,
        }
    }

    async fn migrate(&self) -> Result<(), DatabaseError> {
        match &self.pool {
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
            Pool::Sqlite { pool, .. } => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// The versions of this build's migrations that the database has not applied successfully
    /// (empty when its schema is this build's). For readiness: another process may have
    /// connected with an older build, or a migration may have failed half-way.
    pub async fn missing_migrations(&self) -> Result<Vec<i64>, sqlx::Error> {
        let migrator = match self.backend() {
            Backend::Postgres => &POSTGRES_MIGRATIONS,
            Backend::Sqlite => &SQLITE_MIGRATIONS,
        };
        #[derive(sqlx::FromRow)]
        struct Applied {
            version: i64,
        }
        let applied: Vec<Applied> = query("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(self)
            .await?;
        Ok(migrator
            .iter()
            .filter(|migration| migration.migration_type.is_up_migration())
            .map(|migration| migration.version)
            .filter(|version| !applied.iter().any(|applied| applied.version == *version))
            .collect())
    }

    /// The connections of each pool now: for the metrics, sampled when scraped.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        let stats = |name, size, idle| PoolStats {
            pool: name,
            size,
            idle,
        };
        match &self.pool {
            Pool::Postgres(pool) => vec![stats("main", pool.size(), pool.num_idle())],
            Pool::Sqlite { pool, derived, .. } => vec![
                stats("main", pool.size(), pool.num_idle()),
                stats("derived", derived.size(), derived.num_idle()),
            ],
        }
    }

    pub fn backend(&self) -> Backend {
        match &self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite { .. } => Backend::Sqlite,
        }
    }

    /// Opens a transaction for writing.
    ///
    /// On PostgreSQL it runs at READ COMMITTED, explicitly: each statement must see what
    /// committed before it started, so a read after taking a lock sees the previous lock
    /// holder's rows (under REPEATABLE READ, a possible server default, the snapshot would
    /// predate the lock). On SQLite it waits for this process's writer slot, then takes the
    /// database's write lock up front with `BEGIN IMMEDIATE`, before any read of the
    /// transaction, so two writers never read the same state and then both write.
    pub async fn begin_write(&self) -> Result<Transaction, sqlx::Error> {
        let inner = match &self.pool {
            Pool::Postgres(pool) => {
                TransactionInner::Postgres(pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?)
            }
            Pool::Sqlite { pool, writer, .. } => {
                let slot = writer.clone().lock_owned().await;
                let tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                TransactionInner::Sqlite {
                    tx,
                    _writer: Some(slot),
                }
            }
        };
        Ok(Transaction { inner })
    }

    /// Opens a transaction for writing data derived from the log (read models and their
    /// checkpoints), which does not wait for the disk at commit.
    ///
    /// Such data is rebuilt from the log whenever it is lost: a crash can only undo the last
    /// moves of a read model together with its checkpoint, and the projector then applies the
    /// same events again. Waiting for an fsync per read-model batch would only slow the writes
    /// that do need it. PostgreSQL: `synchronous_commit = off` for this transaction; SQLite: a
    /// connection with `synchronous = NORMAL`.
    pub async fn begin_derived_write(&self) -> Result<Transaction, sqlx::Error> {
        match &self.pool {
            Pool::Postgres(_) => {
                let mut tx = self.begin_write().await?;
                if let TransactionInner::Postgres(inner) = &mut tx.inner {
                    sqlx::query("SET LOCAL synchronous_commit = off")
                        .execute(&mut **inner)
                        .await?;
                }
                Ok(tx)
            }
            Pool::Sqlite { derived, writer, .. } => {
                let slot = writer.clone().lock_owned().await;
                let tx = derived.begin_with("BEGIN IMMEDIATE").await?;
                Ok(Transaction {
                    inner: TransactionInner::Sqlite {
                        tx,
                        _writer: Some(slot),
                    },
                })
            }
        }
    }

    /// Opens a read-only transaction in which every statement sees the same snapshot.
    ///
    /// PostgreSQL: `REPEATABLE READ, READ ONLY`, in the `BEGIN` itself (one round trip).
    /// SQLite in WAL mode: a deferred transaction sees one snapshot from its first read on.
    pub async fn begin_read(&self) -> Result<Transaction, sqlx::Error> {
        let inner = match &self.pool {
            Pool::Postgres(pool) => TransactionInner::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await?,
            ),
            Pool::Sqlite { pool, .. } => TransactionInner::Sqlite {
                tx: pool.begin().await?,
                _writer: None,
            },
        };
        Ok(Transaction { inner })
    }

    /// Runs one writing statement on its own (autocommit), queued behind this process's other
    /// writers on SQLite.
    pub async fn execute_write(&self, statement: Query) -> Result<u64, sqlx::Error> {
        match &self.pool {
            Pool::Postgres(_) => statement.execute(self).await,
            Pool::Sqlite { writer, .. } => {
                let _slot = writer.lock().await;
                statement.execute(self).await
            }
        }
    }

    /// Closes every connection; waits for checked-out ones to come back.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite { pool, derived, .. } => {
                derived.close().await;
                pool.close().await;
            }
        }
    }
}

/// A database transaction; dropped without [`commit`](Transaction::commit), it rolls back.
#[derive(Debug)]
pub struct Transaction {
    inner: TransactionInner,
}

#[derive(Debug)]
enum TransactionInner {
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    Sqlite {
        tx: sqlx::Transaction<'static, sqlx::Sqlite>,
        /// A write transaction holds this process's writer slot until it ends.
        _writer: Option<OwnedMutexGuard<()>>,
    },
}

impl Transaction {
    pub fn backend(&self) -> Backend {
        match &self.inner {
            TransactionInner::Postgres(_) => Backend::Postgres,
            TransactionInner::Sqlite { .. } => Backend::Sqlite,
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            TransactionInner::Postgres(tx) => tx.commit().await,
            TransactionInner::Sqlite { tx, .. } => tx.commit().await,
        }
    }

    /// What ends a `SELECT` whose rows this transaction goes on to write: ` FOR UPDATE` on
    /// PostgreSQL, so that another writer of the same rows waits until this transaction ends;
    /// nothing on SQLite, whose write transaction already holds the database's only write lock.
    pub fn for_update(&self) -> &'static str {
        match self.inner {
            TransactionInner::Postgres(_) => " FOR UPDATE",
            TransactionInner::Sqlite { .. } => "",
        }
    }

    /// The operator that compares two values with `NULL` equal to `NULL`:
    /// `IS NOT DISTINCT FROM` on PostgreSQL, `IS` on SQLite.
    pub fn null_safe_equals(&self) -> &'static str {
        match self.inner {
            TransactionInner::Postgres(_) => "IS NOT DISTINCT FROM",
            TransactionInner::Sqlite { .. } => "IS",
        }
    }

    /// Makes this transaction the only appender to the event log until it ends.
    ///
    /// A gap-free global position needs appends to commit one at a time in position order (see
    /// `crate::store`). PostgreSQL: a transaction-scoped advisory lock, released at commit or
    /// rollback. SQLite: nothing to do, `BEGIN IMMEDIATE` already holds the database's only
    /// write lock.
    pub async fn lock_log(&mut self) -> Result<(), sqlx::Error> {
        if let TransactionInner::Postgres(tx) = &mut self.inner {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(APPEND_LOCK_KEY)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// Keeps credentials out of error messages and logs: what comes before the hosts, and the
/// parameters after them (which may hold a `password`).
fn redact(url: &str) -> String {
    let url = url.split_once('?').map_or(url, |(before, _)| before);
    match url.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.chars().take(16).collect(),
    }
}

/// Formats an instant the way the SQLite schema stores it: fixed-width UTC with microseconds,
/// so that comparing the text compares the instants.
fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
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
    }

    #[test]
    fn credentials_never_reach_error_messages() {
        assert!(!redact("mysql://user:secret@host/db").contains("secret"));
        assert!(!redact("postgres://user@h1,h2/db?password=secret").contains("secret"));
        assert!(!redact("postgres://user:p@ss@host/db").contains("ss@"));
    }
}
