//! Expiry on time, exactly once, with real processes: the deadline is in the log and the
//! `account_holds` read model, never in one process's memory. Two `foldbank` processes share a
//! database and the one leading the expiry scheduler is killed with SIGKILL as the deadlines
//! pass; then every process is stopped across a deadline and one is started after it. Each
//! hold is released by exactly one `HoldExpired`, at or after its deadline, and `foldbank
//! verify` finds the read models equal to the fold of the log.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Server, TestDb, backend_tests, free_port, run_foldbank};

backend_tests!(
    holds_expire_once_when_the_leading_process_is_killed_as_their_deadlines_pass,
    a_deadline_that_passed_while_every_process_was_stopped_expires_at_the_next_start,
);

/// How long the holds of these tests last: the shortest the API accepts but one.
const LASTS_SECS: i64 = 2;

async fn post(server: &Server, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

async fn get(server: &Server, path: &str) -> Value {
    let response = reqwest::Client::new()
        .get(server.url(path))
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.expect("json")
}

fn id(body: &Value, field: &str) -> Uuid {
    body[field]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

/// Opens an account holding 10,000 and places `count` holds of 1,000 lasting [`LASTS_SECS`].
async fn account_with_holds(server: &Server, count: usize) -> (Uuid, Vec<Uuid>) {
    let opened = post(
        server,
        "/accounts",
        json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": 10_000 }),
    )
    .await;
    let account = id(&opened, "account_id");
    let mut holds = Vec::new();
    for _ in 0..count {
        let placed = post(
            server,
            &format!("/accounts/{account}/holds"),
            json!({ "amount": 1_000, "currency": "EUR", "expires_in_secs": LASTS_SECS }),
        )
        .await;
        holds.push(id(&placed, "hold_id"));
    }
    (account, holds)
}

/// Waits until every hold of `account` is expired (not a measure of speed: at most a minute,
/// as a SQLite leader's lease must lapse first); the account's events then.
async fn wait_until_expired(server: &Server, account: Uuid, holds: &[Uuid]) -> Vec<Value> {
    for _ in 0..1200 {
        let page = get(server, &format!("/accounts/{account}/holds?status=open")).await;
        if page["items"].as_array().is_some_and(Vec::is_empty) {
            // A round more of the scheduler: a second expiry would be recorded now.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            return events(server, account).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("holds {holds:?} did not expire");
}

async fn events(server: &Server, account: Uuid) -> Vec<Value> {
    let page = get(server, &format!("/accounts/{account}/events?limit=500")).await;
    page["events"].as_array().cloned().expect("events")
}

/// Every hold expired by exactly one `HoldExpired`, recorded at or after its deadline, and the
/// account's money all available again.
async fn assert_expired_once(server: &Server, account: Uuid, holds: &[Uuid], events: &[Value]) {
    let deadline_of = |hold: Uuid| -> DateTime<Utc> {
        let placed = events
            .iter()
            .find(|event| event["type"] == "HoldPlaced" && event["data"]["hold_id"] == hold.to_string())
            .expect("the placement");
        placed["data"]["expires_at"]
            .as_str()
            .and_then(|at| at.parse().ok())
            .expect("expires_at")
    };
    for hold in holds {
        let expiries: Vec<&Value> = events
            .iter()
            .filter(|event| event["type"] == "HoldExpired" && event["data"]["hold_id"] == hold.to_string())
            .collect();
        assert_eq!(expiries.len(), 1, "hold {hold}: {expiries:?}");
        let expired_at: DateTime<Utc> = expiries[0]["data"]["occurred_at"]
            .as_str()
            .and_then(|at| at.parse().ok())
            .expect("occurred_at");
        assert!(expired_at >= deadline_of(*hold), "hold {hold} expired early");
    }
    let view = get(server, &format!("/accounts/{account}")).await;
    assert_eq!(view["held"], 0, "{view}");
    assert_eq!(view["available"], 10_000, "{view}");
}

async fn assert_verified(db: &TestDb) {
    let verify = run_foldbank(db, &["verify", "--log", "warn"]).await;
    let report = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(0), "{report}");
    assert!(report.contains("account_holds: "), "{report}");
}

async fn holds_expire_once_when_the_leading_process_is_killed_as_their_deadlines_pass(db: TestDb) {
    // The first process to start leads the scheduler; the second stands by.
    let first = Server::start(&db, free_port()).await;
    let second = Server::start(&db, free_port()).await;
    let (account, holds) = account_with_holds(&second, 5).await;
    // Killed as the deadlines come: the leader is gone before it could expire any.
    tokio::time::sleep(Duration::from_millis(1_000 * LASTS_SECS as u64 - 500)).await;
    first.kill();
    let killed_at = Utc::now();

    let events = wait_until_expired(&second, account, &holds).await;
    assert_expired_once(&second, account, &holds, &events).await;
    // The survivor took over: every expiry was recorded after the kill.
    for expiry in events.iter().filter(|event| event["type"] == "HoldExpired") {
        let recorded: DateTime<Utc> = expiry["recorded_at"]
            .as_str()
            .and_then(|at| at.parse().ok())
            .expect("recorded_at");
        assert!(recorded > killed_at, "{expiry} before the kill at {killed_at}");
    }
    assert!(second.terminate().await);
    assert_verified(&db).await;
}

async fn a_deadline_that_passed_while_every_process_was_stopped_expires_at_the_next_start(db: TestDb) {
    let server = Server::start(&db, free_port()).await;
    let (account, holds) = account_with_holds(&server, 3).await;
    assert!(server.terminate().await);
    // Stopped across the deadlines.
    tokio::time::sleep(Duration::from_millis(1_000 * LASTS_SECS as u64 + 500)).await;

    let restarted = Server::start(&db, free_port()).await;
    let events = wait_until_expired(&restarted, account, &holds).await;
    assert_expired_once(&restarted, account, &holds, &events).await;
    assert!(restarted.terminate().await);
    assert_verified(&db).await;
}
