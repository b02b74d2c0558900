//! CQRS level 3: the read models in a database of their own (`READ_DATABASE_URL`).
//!
//! Each test runs on three pairs: two SQLite files, two PostgreSQL databases, and the log in
//! PostgreSQL with the read models in a SQLite file. Commands go over HTTP (and the real
//! binary for `verify` and `rebuild`); the tables are then counted in each database directly.

use std::time::Duration;

use axum::http::StatusCode;
use foldbank::db::{Database, query};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, run_foldbank};
use crate::read_models::assert_read_models_match_the_log;

/// Runs each listed `async fn name(db: TestDb)` on the three splits, as `sqlite::name`,
/// `postgres::name` and `postgres_log_sqlite_read::name`.
macro_rules! split_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::TestDb::sqlite_split().await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::common::TestDb::postgres_split().await {
                        super::$name(db).await;
                    }
                }
            )+
        }
        mod postgres_log_sqlite_read {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(db) = $crate::common::TestDb::postgres_with_sqlite_read().await {
                        super::$name(db).await;
                    }
                }
            )+
        }
    };
}

split_tests!(
    commands_write_the_log_to_one_database_and_the_read_models_to_the_other,
    a_read_with_min_position_sees_the_write_it_follows,
    verify_and_rebuild_work_on_the_read_database,
);

const READ_MODEL_TABLES: [&str; 4] = [
    "account_balances",
    "account_transactions",
    "transfers",
    "ledger_totals",
];

async fn rows(database: &Database, table: &str) -> i64 {
    query(format!("SELECT COUNT(*) FROM {table}"))
        .fetch_scalar(database)
        .await
        .unwrap_or_else(|error| panic!("count {table}: {error}"))
}

async fn checkpoint_names(database: &Database) -> Vec<String> {
    query("SELECT name FROM projection_checkpoints ORDER BY name")
        .fetch_all::<(String,)>(database)
        .await
        .expect("checkpoints")
        .into_iter()
        .map(|(name,)| name)
        .collect()
}

/// Two accounts, deposits, a completed transfer and a refunded one, all over HTTP.
async fn some_history(app: &TestApp) -> Vec<Uuid> {
    let alice = app.open_account_with(1_000).await;
    let bob = app.open_account(json!({})).await;
    for (from, to) in [(alice, bob), (alice, Uuid::now_v7())] {
        let transfer = app
            .post(
                "/transfers",
                json!({ "from_account": from, "to_account": to, "amount": 100, "currency": "EUR" }),
            )
            .await;
        assert_eq!(transfer.status, StatusCode::ACCEPTED, "{}", transfer.text);
    }
    app.settled().await;
    vec![alice, bob]
}

async fn commands_write_the_log_to_one_database_and_the_read_models_to_the_other(db: TestDb) {
    assert!(db.is_split());
    let app = TestApp::new(db).await;
    let accounts = some_history(&app).await;
    let (write, read) = (&app.db.database, &app.db.read);

    assert!(
        rows(write, "events").await > 0,
        "the log is in the write database"
    );
    assert_eq!(rows(read, "events").await, 0, "and not in the read database");
    for table in READ_MODEL_TABLES {
        assert!(rows(read, table).await > 0, "{table} is in the read database");
        assert_eq!(
            rows(write, table).await,
            0,
            "{table} is not in the write database"
        );
    }
    // A projection's checkpoint sits with its rows, the transfer manager's and the fee policy's
    // with the log.
    let mut projections: Vec<String> = foldbank::app::projection_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    projections.sort();
    assert_eq!(checkpoint_names(read).await, projections);
    assert_eq!(
        checkpoint_names(write).await,
        [
            foldbank::policy::overdraft_fees::NAME,
            foldbank::process::transfers::NAME
        ]
    );

    // What the service reports and serves is the same as on one database.
    let status = app.get("/projections").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    let followers = status.body["projections"].as_array().expect("followers");
    assert_eq!(followers.len(), foldbank::app::follower_names().len());
    for follower in followers {
        assert_eq!(follower["lag_events"], 0, "{follower}");
        assert_eq!(follower["checkpoint"], status.body["head"], "{follower}");
    }
    for account in &accounts {
        assert_read_models_match_the_log(&app, *account).await;
    }
    assert_eq!(
        app.get(&format!("/accounts/{}", accounts[1])).await.body["balance"],
        100
    );
}

/// Polling is slowed to a minute, so only the wake-up on append (tied to the log, in the write
/// database) can explain the read model catching up within the read wait.
async fn a_read_with_min_position_sees_the_write_it_follows(db: TestDb) {
    let mut app = TestApp::without_projector(db).await;
    let service = app.service.clone().with_poll_interval(Duration::from_secs(60));
    app = app.with_service(service);
    app.start_projector_in_background();
    let account = app.open_account(json!({})).await;

    for amount in [10, 20, 30] {
        let deposit = app
            .post(
                &format!("/accounts/{account}/deposits"),
                json!({ "amount": amount, "currency": "EUR" }),
            )
            .await;
        assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
        let position = deposit.body["position"].as_i64().expect("position");
        let read = app
            .get(&format!("/accounts/{account}?min_position={position}"))
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        let seen: i64 = read
            .header("x-projection-position")
            .and_then(|header| header.parse().ok())
            .expect("X-Projection-Position");
        assert!(seen >= position, "{seen} < {position}");
        let transactions = app
            .get(&format!(
                "/accounts/{account}/transactions?min_position={position}"
            ))
            .await;
        assert_eq!(transactions.status, StatusCode::OK, "{}", transactions.text);
        assert!(
            transactions.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|item| item["amount"] == amount)),
            "{}",
            transactions.text
        );
    }
    let read = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(read.body["balance"], 60, "{}", read.text);
}

/// The real binary, given both URLs: `verify` compares the read database's tables with the
/// log in the write database, `rebuild` rebuilds them in the read database and leaves the write
/// database's copies of the read-model tables empty.
async fn verify_and_rebuild_work_on_the_read_database(db: TestDb) {
    let app = TestApp::new(db).await;
    let accounts = some_history(&app).await;

    let verify = || run_foldbank(&app.db, &["verify", "--log", "warn"]);
    let equal = verify().await;
    let report = String::from_utf8_lossy(&equal.stdout);
    assert_eq!(equal.status.code(), Some(0), "{report}");
    assert!(
        report.contains("account_balances: 2 rows, equal to the log"),
        "{report}"
    );

    let corrupted = query("UPDATE account_balances SET balance = balance + 1 WHERE account_id = $1")
        .bind(accounts[0])
        .execute(&app.db.read)
        .await
        .expect("corrupt a row");
    assert_eq!(corrupted, 1);
    let differing = verify().await;
    let report = String::from_utf8_lossy(&differing.stdout);
    assert_eq!(differing.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("account_balances {}", accounts[0])),
        "{report}"
    );

    let rebuilt = run_foldbank(&app.db, &["rebuild", "all", "--log", "warn"]).await;
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let equal = verify().await;
    let report = String::from_utf8_lossy(&equal.stdout);
    assert_eq!(equal.status.code(), Some(0), "{report}");
    for table in READ_MODEL_TABLES {
        assert_eq!(
            rows(&app.db.database, table).await,
            0,
            "{table} in the write database"
        );
    }
    for account in &accounts {
        assert_read_models_match_the_log(&app, *account).await;
    }
}
