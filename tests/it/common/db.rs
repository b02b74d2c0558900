//! Throwaway databases: a temporary SQLite file, or a PostgreSQL database created for one test
//! and dropped when the test ends (even when it panics).
//!
//! With `FOLDBANK_TEST_SPLIT_READ=1` every test database comes as a pair, the read models in a
//! database of their own (a second SQLite file, a second PostgreSQL database), so the whole
//! suite runs with the read side split off (CQRS level 3). The switch is read at run time: CI
//! runs the same test binary twice.

use std::io::Write;
use std::sync::Once;

use foldbank::db::{Database, Databases};
use sqlx::Connection;

/// The PostgreSQL server tests create their databases on (any existing database works, it is
/// only used to run `CREATE DATABASE`), e.g. `postgres://postgres@127.0.0.1:5432/test`.
const POSTGRES_URL_VAR: &str = "FOLDBANK_TEST_POSTGRES_URL";
/// Set to `1` to make a missing PostgreSQL a failure instead of a skip (CI does).
const REQUIRE_POSTGRES_VAR: &str = "FOLDBANK_REQUIRE_POSTGRES";
/// Set to `1` to give every test app a read database of its own.
const SPLIT_READ_VAR: &str = "FOLDBANK_TEST_SPLIT_READ";

/// Whether this run splits the read models off (`FOLDBANK_TEST_SPLIT_READ=1`).
fn split_read() -> bool {
    std::env::var(SPLIT_READ_VAR).is_ok_and(|value| value == "1")
}

#[derive(Debug)]
pub struct TestDb {
    /// The write database: the log, and everything else unless split.
    pub database: Database,
    /// The read database: the read models and their checkpoints. The same handle as
    /// `database` unless split.
    pub read: Database,
    cleanup: Cleanup,
    /// The read database's own, when split.
    read_cleanup: Option<Cleanup>,
}

#[derive(Debug)]
enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        admin_url: String,
        name: String,
    },
    /// Another `TestDb` owns the database.
    Borrowed,
}

impl Cleanup {
    fn url(&self) -> String {
        match self {
            Cleanup::Sqlite(dir) => format!("sqlite://{}?mode=rwc", dir.path().join("foldbank.db").display()),
            Cleanup::Postgres { admin_url, name } => database_url(admin_url, name),
            Cleanup::Borrowed => panic!("ask the owning TestDb"),
        }
    }
}

/// A fresh SQLite file in a directory of its own.
async fn sqlite_database() -> (Database, Cleanup) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cleanup = Cleanup::Sqlite(dir);
    let database = Database::connect(&cleanup.url(), 8)
        .await
        .expect("SQLite test database");
    (database, cleanup)
}

/// A fresh PostgreSQL database, or `None` (after saying so once) when none is configured.
async fn postgres_database() -> Option<(Database, Cleanup)> {
    let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
        if std::env::var(REQUIRE_POSTGRES_VAR).is_ok_and(|value| value == "1") {
            panic!("{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set");
        }
        static ANNOUNCE: Once = Once::new();
        ANNOUNCE.call_once(|| {
            // Written to stderr directly: the test harness would swallow `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "PostgreSQL suite skipped: set {POSTGRES_URL_VAR}=postgres://postgres@127.0.0.1:5432/test to run it"
            );
        });
        return None;
    };
    let name = format!("foldbank_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {POSTGRES_URL_VAR}: {error}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = admin.close().await;
    let cleanup = Cleanup::Postgres { admin_url, name };
    let database = Database::connect(&cleanup.url(), 10)
        .await
        .expect("PostgreSQL test database");
    Some((database, cleanup))
}

impl TestDb {
    /// A SQLite database, split in two (two files) under `FOLDBANK_TEST_SPLIT_READ=1`.
    pub async fn sqlite() -> TestDb {
        if split_read() {
            TestDb::sqlite_split().await
        } else {
            let (database, cleanup) = sqlite_database().await;
            TestDb::one(database, cleanup)
        }
    }

    /// A fresh PostgreSQL database (two under `FOLDBANK_TEST_SPLIT_READ=1`), or `None` when
    /// none is configured.
    pub async fn postgres() -> Option<TestDb> {
        if split_read() {
            TestDb::postgres_split().await
        } else {
            let (database, cleanup) = postgres_database().await?;
            Some(TestDb::one(database, cleanup))
        }
    }

    /// The log in one SQLite file, the read models in another.
    pub async fn sqlite_split() -> TestDb {
        let (write, cleanup) = sqlite_database().await;
        let (read, read_cleanup) = sqlite_database().await;
        TestDb::split(write, cleanup, read, read_cleanup)
    }

    /// The log in one PostgreSQL database, the read models in another.
    pub async fn postgres_split() -> Option<TestDb> {
        let (write, cleanup) = postgres_database().await?;
        let (read, read_cleanup) = postgres_database().await?;
        Some(TestDb::split(write, cleanup, read, read_cleanup))
    }

    /// The log in PostgreSQL, the read models in a SQLite file.
    pub async fn postgres_with_sqlite_read() -> Option<TestDb> {
        let (write, cleanup) = postgres_database().await?;
        let (read, read_cleanup) = sqlite_database().await;
        Some(TestDb::split(write, cleanup, read, read_cleanup))
    }

    fn one(database: Database, cleanup: Cleanup) -> TestDb {
        TestDb {
            read: database.clone(),
            database,
            cleanup,
            read_cleanup: None,
        }
    }

    fn split(write: Database, cleanup: Cleanup, read: Database, read_cleanup: Cleanup) -> TestDb {
        TestDb {
            database: write,
            read,
            cleanup,
            read_cleanup: Some(read_cleanup),
        }
    }

    /// Another fresh database (or pair) of the same backend as this one: for tests that need a
    /// new one per generated case.
    pub async fn fresh(&self) -> TestDb {
        match self.database.backend() {
            foldbank::db::Backend::Sqlite => TestDb::sqlite().await,
            foldbank::db::Backend::Postgres => TestDb::postgres().await.expect("PostgreSQL, as before"),
        }
    }

    /// A handle on databases another `TestDb` owns (and will clean up).
    pub fn attach(databases: Databases) -> TestDb {
        TestDb {
            database: databases.write.clone(),
            read: databases.read.clone(),
            cleanup: Cleanup::Borrowed,
            read_cleanup: databases.is_split().then_some(Cleanup::Borrowed),
        }
    }

    /// Whether the read models have a database of their own.
    pub fn is_split(&self) -> bool {
        self.read_cleanup.is_some()
    }

    /// Both databases, as the service takes them.
    pub fn databases(&self) -> Databases {
        if self.is_split() {
            Databases::split(self.database.clone(), self.read.clone())
        } else {
            Databases::one(self.database.clone())
        }
    }

    /// Other connection pools to the same databases, as a second process would have.
    pub async fn reconnect(&self) -> Databases {
        Databases::connect(&self.url(), self.read_url().as_deref(), 8)
            .await
            .expect("second connection")
    }

    /// The write database's URL, for starting the real binary against it.
    pub fn url(&self) -> String {
        self.cleanup.url()
    }

    /// The read database's URL, when split.
    pub fn read_url(&self) -> Option<String> {
        self.read_cleanup.as_ref().map(Cleanup::url)
    }

    /// The arguments that point the real binary at these databases, with the tests' master
    /// key (the one the in-process service uses).
    pub fn cli_args(&self) -> Vec<String> {
        let mut args = self.database_args();
        args.extend(["--master-key-file".to_owned(), super::master_key_file()]);
        args
    }

    /// The arguments that point the real binary at these databases, and nothing else.
    pub fn database_args(&self) -> Vec<String> {
        let mut args = vec!["--database-url".to_owned(), self.url()];
        if let Some(read_url) = self.read_url() {
            args.extend(["--read-database-url".to_owned(), read_url]);
        }
        args
    }
}

/// `admin_url` with its database name replaced by `name`.
fn database_url(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let server = match base.rsplit_once('/') {
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => server,
        _ => base.trim_end_matches('/'),
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        for cleanup in std::iter::once(&self.cleanup).chain(&self.read_cleanup) {
            cleanup.drop_database();
        }
    }
}

impl Cleanup {
    fn drop_database(&self) {
        let Cleanup::Postgres { admin_url, name } = self else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop is synchronous and may run inside the test's runtime: do the async cleanup on a
        // thread with its own small runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop test database {}",
                self.name()
            );
        }
    }

    fn name(&self) -> &str {
        match self {
            Cleanup::Postgres { name, .. } => name,
            Cleanup::Sqlite(_) | Cleanup::Borrowed => "sqlite",
        }
    }
}

#[test]
fn database_url_swaps_the_database_name() {
    assert_eq!(
        database_url("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        database_url("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
}
