//! Queries from hot standbys (`--replica-url`), on PostgreSQL.
//!
//! A real standby, streaming from a real primary, is `tests/ha/replica_reads.py`'s (run by
//! `.ci/run`). Here the "replica" is a database of its own with the schema and nothing else: a
//! standby that has replayed nothing yet. What it answers, and when the primary answers
//! instead, is then certain, so the routing and its fallbacks are checked in every `cargo test`.
//! The binary itself would refuse that database as a replica (it is not a copy of the read
//! database: the last test); the apps here are built without that start-up check. (SQLite has no
//! replicas: the service refuses `--replica-url` on it, see `config.rs`.)

use axum::http::StatusCode;
use foldbank::projection::Replicas;
use serde_json::json;

use crate::common::{TestApp, TestDb, run_foldbank};
use crate::metrics::{counter, gauge, parse};

const READS: &str = "foldbank_replica_reads_total";

/// The service on `db` reading from the replica at `replica_url`.
async fn app_reading_from(db: TestDb, replica_url: &str) -> TestApp {
    let replicas = Replicas::connect(&[replica_url.to_owned()], &db.databases(), 4).expect("replica URL");
    let app = TestApp::without_projector(db).await;
    let service = app
        .service
        .clone()
        .with_replicas(replicas, std::time::Duration::from_millis(100));
    app.with_service(service).with_projector().await
}

/// The replica's label in the metrics: `host:port/database`.
fn label(url: &str) -> String {
    url.rsplit_once('@').map_or(url, |(_, rest)| rest).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_go_to_the_replica_and_min_position_falls_back_to_the_primary() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let empty = TestDb::postgres().await.expect("PostgreSQL, as before");
    let replica_url = empty.read_url().unwrap_or_else(|| empty.url());
    let app = app_reading_from(db, &replica_url).await;
    let replica = label(&replica_url);

    let account = app.open_account_with(1_000).await;
    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 250, "currency": "EUR" }),
        )
        .await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
    let position = deposit.body["position"].as_i64().expect("position");

    // Without `min_position` the replica answers as it is: it has replayed nothing.
    let stale = app.get(&format!("/accounts/{account}")).await;
    stale.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    // With it, the replica does not reach it within its wait, and the primary answers.
    let fresh = app
        .get(&format!("/accounts/{account}/balance?min_position={position}"))
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    assert_eq!(fresh.body["balance"], 1_250);
    let reflected: i64 = fresh
        .header("x-projection-position")
        .and_then(|value| value.parse().ok())
        .expect("X-Projection-Position");
    assert!(reflected >= position, "{reflected} < {position}");
    // A position the log has not reached is refused at once, whoever would answer.
    app.get(&format!("/accounts/{account}?min_position={}", position + 1_000))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "position-beyond-head");

    app.caught_up().await;
    let scrape = parse(&app.get("/metrics").await.text);
    let outcome = |outcome| {
        counter(
            &scrape,
            READS,
            &[("replica", replica.as_str()), ("outcome", outcome)],
        )
    };
    assert_eq!(outcome("served"), 1.0);
    assert_eq!(outcome("behind"), 1.0);
    assert_eq!(
        gauge(&scrape, "foldbank_replica_up", &[("replica", replica.as_str())]),
        1.0
    );
    assert!(
        gauge(
            &scrape,
            "foldbank_replica_lag_events",
            &[("replica", replica.as_str())]
        ) >= position as f64,
        "a replica at 0 is at least {position} events behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_is_down_costs_no_error() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // Nothing listens on port 1.
    let replica_url = "postgres://postgres@127.0.0.1:1/gone";
    let app = app_reading_from(db, replica_url).await;
    let replica = label(replica_url);

    let account = app.open_account_with(500).await;
    let position = app.caught_up().await;
    for _ in 0..3 {
        let read = app
            .get(&format!("/accounts/{account}/balance?min_position={position}"))
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        assert_eq!(read.body["balance"], 500);
        let listed = app.get("/accounts").await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    }

    let scrape = parse(&app.get("/metrics").await.text);
    // The first read found it down; it rested while the others went to the primary.
    assert_eq!(
        counter(
            &scrape,
            READS,
            &[("replica", replica.as_str()), ("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(
        gauge(&scrape, "foldbank_replica_up", &[("replica", replica.as_str())]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_refuses_a_replica_that_is_not_a_copy_of_the_read_database() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let other = TestDb::postgres().await.expect("PostgreSQL, as before");
    let other_url = other.read_url().unwrap_or_else(|| other.url());
    let run = run_foldbank(&db, &["--bind", "127.0.0.1:0", "--replica-url", &other_url]).await;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(!run.status.success(), "{output}");
    assert!(
        output.contains("is not a standby of the read database"),
        "{output}"
    );
    assert!(
        !output.contains("postgres@"),
        "no credentials in the message: {output}"
    );
}
