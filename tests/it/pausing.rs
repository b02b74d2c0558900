//! `POST /projections/{name}/pause` and `/resume`: a read model held where it is, in every
//! process sharing the database, so that eventual consistency can be watched (a stale read, a
//! `min_position` read that waits) and maintenance done.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, TestDb, backend_tests};
use crate::metrics::{gauge, parse};

backend_tests!(
    a_paused_read_model_answers_as_it_was_and_min_position_waits_until_resumed,
    a_pause_holds_in_every_process_on_the_database,
    only_read_models_are_paused,
);

/// How long a `min_position` read waits here before `503 projection-behind`.
const READ_WAIT: Duration = Duration::from_millis(300);

async fn app_on(db: TestDb) -> TestApp {
    let app = TestApp::new(db).await;
    // Ready only with every follower at the head (but a paused one).
    let service = app
        .service
        .clone()
        .with_read_wait(READ_WAIT)
        .with_ready_max_lag(0);
    app.with_service(service)
}

async fn deposit(app: &TestApp, account: uuid::Uuid, amount: i64) -> i64 {
    let deposited = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": amount, "currency": "EUR" }),
        )
        .await;
    assert_eq!(deposited.status, StatusCode::CREATED, "{}", deposited.text);
    deposited.body["position"].as_i64().expect("position")
}

async fn set(app: &TestApp, name: &str, what: &str) -> Value {
    let answered = app.post(&format!("/projections/{name}/{what}"), json!({})).await;
    assert_eq!(answered.status, StatusCode::OK, "{what}: {}", answered.text);
    assert_eq!(answered.body["name"], name);
    answered.body
}

fn projection<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["projections"]
        .as_array()
        .and_then(|projections| projections.iter().find(|projection| projection["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
}

async fn a_paused_read_model_answers_as_it_was_and_min_position_waits_until_resumed(db: TestDb) {
    let app = app_on(db).await;
    let account = app.open_account_with(1_000).await;
    app.caught_up().await;

    let paused = set(&app, "account_balances", "pause").await;
    assert!(paused["paused_at"].is_string(), "{paused}");
    let position = deposit(&app, account, 500).await;

    // The read model answers as it was, and says how far that is.
    let stale = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(stale.status, StatusCode::OK, "{}", stale.text);
    assert_eq!(stale.body["balance"], 1_000);
    let reflected: i64 = stale
        .header("x-projection-position")
        .and_then(|value| value.parse().ok())
        .expect("X-Projection-Position");
    assert!(reflected < position, "{reflected} < {position}");
    // Reading one's own write waits, then says it is not there yet.
    app.get(&format!("/accounts/{account}?min_position={position}"))
        .await
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "projection-behind");
    // The other read models go on.
    let ledger = app.get(&format!("/ledger/summary?min_position={position}")).await;
    assert_eq!(ledger.status, StatusCode::OK, "{}", ledger.text);

    let status = app.get("/projections").await.body;
    let balances = projection(&status, "account_balances");
    assert_eq!(balances["paused_at"], paused["paused_at"]);
    assert!(balances["lag_events"].as_i64() >= Some(1), "{balances}");
    assert!(projection(&status, "ledger_totals")["paused_at"].is_null());
    let scrape = parse(&app.get("/metrics").await.text);
    let paused_gauge = |follower| gauge(&scrape, "foldbank_follower_paused", &[("follower", follower)]);
    assert_eq!(paused_gauge("account_balances"), 1.0);
    assert_eq!(paused_gauge("ledger_totals"), 0.0);

    // Readiness leaves a paused read model out: a pause for maintenance takes no process out
    // of service, however far behind the read model falls.
    let others = [
        "account_transactions",
        "transfers",
        "ledger_totals",
        "account_holds",
        "transfer_process",
    ];
    app.service
        .http
        .followers
        .wait_for(&others, position, Duration::from_secs(30))
        .await
        .expect("the others catch up");
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);

    // Pausing again changes nothing, not even when it was paused.
    assert_eq!(
        set(&app, "account_balances", "pause").await["paused_at"],
        paused["paused_at"]
    );

    let resumed = set(&app, "account_balances", "resume").await;
    assert!(resumed["paused_at"].is_null(), "{resumed}");
    let fresh = app
        .get(&format!("/accounts/{account}?min_position={position}"))
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    assert_eq!(fresh.body["balance"], 1_500);
}

async fn a_pause_holds_in_every_process_on_the_database(db: TestDb) {
    let first = app_on(db).await;
    let second = app_on(TestDb::attach(first.db.reconnect().await)).await;
    let account = first.open_account_with(100).await;
    second.caught_up().await;

    set(&first, "account_balances", "pause").await;
    // Whichever process leads the projection, none moves it: the second's own read of its
    // deposit waits in vain.
    let position = deposit(&second, account, 50).await;
    for app in [&first, &second] {
        app.get(&format!("/accounts/{account}?min_position={position}"))
            .await
            .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "projection-behind");
    }

    set(&second, "account_balances", "resume").await;
    for app in [&first, &second] {
        let fresh = app
            .get(&format!("/accounts/{account}?min_position={position}"))
            .await;
        assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
        assert_eq!(fresh.body["balance"], 150);
    }
}

async fn only_read_models_are_paused(db: TestDb) {
    let app = app_on(db).await;
    app.post("/projections/transfer_process/pause", json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "projection-not-found");
    app.post("/projections/nothing/resume", json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "projection-not-found");
    let no_json = app
        .send(
            axum::http::Method::POST,
            "/projections/account_balances/pause",
            &[],
            axum::body::Body::empty(),
        )
        .await;
    no_json.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    // Nothing was paused by any of them.
    let status = app.get("/projections").await.body;
    assert!(
        status["projections"]
            .as_array()
            .expect("projections")
            .iter()
            .all(|projection| projection["paused_at"].is_null()),
        "{status}"
    );
}
