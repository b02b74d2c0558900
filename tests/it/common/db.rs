//! Throwaway databases: a temporary SQLite file, or a PostgreSQL database created for one test
//! and dropped when the test ends (even when it panics).

use std::io::Write;
use std::sync::Once;

use foldbank::db::Database;
use sqlx::Connection;

/// The PostgreSQL server tests create their databases on (any existing database works, it is
/// only used to run `CREATE DATABASE`), e.g. `postgres://postgres@127.0.0.1:5432/test`.
const POSTGRES_URL_VAR: &str = "FOLDBANK_TEST_POSTGRES_URL";
/// Set to `1` to make a missing PostgreSQL a failure instead of a skip (CI does).
const REQUIRE_POSTGRES_VAR: &str = "FOLDBANK_REQUIRE_POSTGRES";

#[derive(Debug)]
pub struct TestDb {
    pub database: Database,
    cleanup: Cleanup,
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

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("foldbank.db").display());
        let database = Database::connect(&url, 8).await.expect("SQLite test database");
        TestDb {
            database,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (after saying so once) when none is configured.
    pub async fn postgres() -> Option<TestDb> {
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
        let url = database_url(&admin_url, &name);
        let database = Database::connect(&url, 10)
            .await
            .expect("PostgreSQL test database");
        Some(TestDb {
            database,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// A handle on a database another `TestDb` owns (and will clean up).
    pub fn attach(database: Database) -> TestDb {
        TestDb {
            database,
            cleanup: Cleanup::Borrowed,
        }
    }

    /// Another connection pool to the same database, as a second process would have.
    pub async fn reconnect(&self) -> Database {
        let url = match &self.cleanup {
            Cleanup::Sqlite(dir) => format!("sqlite://{}?mode=rwc", dir.path().join("foldbank.db").display()),
            Cleanup::Postgres { admin_url, name } => database_url(admin_url, name),
            Cleanup::Borrowed => panic!("reconnect through the owning TestDb"),
        };
        Database::connect(&url, 8).await.expect("second connection")
    }

    /// The database URL, for starting the real binary against this database.
    pub fn url(&self) -> String {
        match &self.cleanup {
            Cleanup::Sqlite(dir) => format!("sqlite://{}?mode=rwc", dir.path().join("foldbank.db").display()),
            Cleanup::Postgres { admin_url, name } => database_url(admin_url, name),
            Cleanup::Borrowed => panic!("ask the owning TestDb"),
        }
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
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
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
}

impl TestDb {
    fn name(&self) -> &str {
        match &self.cleanup {
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
