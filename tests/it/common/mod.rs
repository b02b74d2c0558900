//! Test fixtures: a fresh database per test on either backend, and an HTTP client for the
//! real router.

#![allow(dead_code)]

mod db;
mod http;
mod master_key;
mod server;

pub use db::TestDb;
pub use http::{TestApp, TestResponse, test_start};
pub use master_key::{master_key, master_key_file};
pub use server::{Server, free_port, get_json, run_foldbank, run_foldbank_bare};

/// Runs each listed `async fn name(db: TestDb)` once on SQLite and once on PostgreSQL, as the
/// tests `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestDb::sqlite().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::common::TestDb::postgres().await {
                        super::$name(db).await;
                    }
                }
            )+
        }
    };
}
pub(crate) use backend_tests;
