//! Holds over HTTP: authorize, capture part, void, expire on time exactly once; what the
//! balances, the holds read model, the history and the ledger show; and every read model equal
//! to a fresh fold of the log afterwards (`foldbank verify`).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use foldbank::auth::Role;
use foldbank::clock::Clock;
use foldbank::domain::ids::OwnerId;
use foldbank::projection::{self, Progress};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, TestResponse, backend_tests};

backend_tests!(
    money_held_is_not_available_until_captured_and_a_hold_settles_once,
    a_partial_capture_releases_the_rest_and_is_a_movement,
    holds_are_listed_by_status_a_page_at_a_time_and_as_they_were_at_an_instant,
    a_hold_past_its_deadline_is_expired_once_by_the_scheduler_of_two_processes,
    expiry_rounds_of_two_processes_at_once_record_one_expiry_per_hold,
    a_round_expires_the_soonest_deadline_first_and_the_same_deadline_by_hold_id,
    a_deadline_is_kept_to_the_microsecond_as_the_databases_store_it,
    a_hold_past_its_deadline_cannot_be_captured_before_the_scheduler_records_it,
    concurrent_captures_and_voids_of_one_hold_have_exactly_one_winner,
    the_daily_limit_counts_a_hold_when_placed_and_gets_back_what_is_released,
    a_frozen_account_refuses_new_holds_but_pays_its_captures,
    an_account_with_open_holds_cannot_close,
    a_hold_placed_again_changes_nothing_and_an_id_names_one_hold,
    bad_hold_requests_are_clear_problems_and_write_nothing,
    a_customer_holds_money_on_its_own_accounts_only,
);

/// Places a hold on `account`; the response.
async fn place(app: &TestApp, account: Uuid, body: Value) -> TestResponse {
    app.post(&format!("/accounts/{account}/holds"), body).await
}

/// Places a hold of `amount` EUR lasting `secs`; its id.
async fn hold(app: &TestApp, account: Uuid, amount: i64, secs: i64) -> Uuid {
    let placed = place(
        app,
        account,
        json!({ "amount": amount, "currency": "EUR", "expires_in_secs": secs }),
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
    placed.body["hold_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("hold_id")
}

async fn capture(app: &TestApp, account: Uuid, hold: Uuid, body: Value) -> TestResponse {
    app.post(&format!("/accounts/{account}/holds/{hold}/capture"), body)
        .await
}

async fn void(app: &TestApp, account: Uuid, hold: Uuid) -> TestResponse {
    app.post(&format!("/accounts/{account}/holds/{hold}/void"), json!({}))
        .await
}

/// The account as the read model shows it once it reflects the whole log.
async fn account(app: &TestApp, account: Uuid) -> Value {
    let head = app.caught_up().await;
    let read = app.get(&format!("/accounts/{account}?min_position={head}")).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    read.body
}

/// `(balance, held, available)` of the account.
async fn money(app: &TestApp, id: Uuid) -> (i64, i64, i64) {
    let body = account(app, id).await;
    let figure = |name: &str| body[name].as_i64().expect(name);
    (figure("balance"), figure("held"), figure("available"))
}

/// The hold as `GET /accounts/{id}/holds/{hold_id}` shows it once the read model is caught up.
async fn read_hold(app: &TestApp, account: Uuid, hold: Uuid) -> Value {
    let head = app.caught_up().await;
    let read = app
        .get(&format!("/accounts/{account}/holds/{hold}?min_position={head}"))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    read.body
}

/// `GET /ledger/summary` once it reflects the whole log.
async fn ledger(app: &TestApp) -> TestResponse {
    let head = app.caught_up().await;
    let summary = app.get(&format!("/ledger/summary?min_position={head}")).await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.text);
    summary
}

/// How many of the account's events have type `kind`.
async fn count_events(app: &TestApp, account: Uuid, kind: &str) -> usize {
    app.events(account)
        .await
        .iter()
        .filter(|event| event["type"] == kind)
        .count()
}

async fn assert_read_models_are_the_fold_of_the_log(app: &TestApp) {
    app.caught_up().await;
    let verification = projection::verify(&app.db.read, &app.service.store, Progress::hidden())
        .await
        .expect("verify runs");
    assert!(verification.is_consistent(), "{verification:?}");
    let holds = verification
        .tables
        .iter()
        .find(|table| table.table == "account_holds")
        .expect("verify checks account_holds");
    assert!(holds.rows > 0, "no hold was compared: {verification:?}");
}

async fn money_held_is_not_available_until_captured_and_a_hold_settles_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let held = hold(&app, id, 8_000, 3_600).await;
    assert_eq!(money(&app, id).await, (10_000, 8_000, 2_000));

    let withdrawal = app
        .post(
            &format!("/accounts/{id}/withdrawals"),
            json!({ "amount": 3_000, "currency": "EUR" }),
        )
        .await;
    withdrawal.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    assert_eq!(withdrawal.body["available"], 2_000);

    let captured = capture(&app, id, held, json!({ "amount": 5_000 })).await;
    assert_eq!(captured.status, StatusCode::CREATED, "{}", captured.text);
    assert!(captured.body["transaction_id"].is_string(), "{}", captured.text);
    assert_eq!(money(&app, id).await, (5_000, 0, 5_000));

    let again = capture(&app, id, held, json!({})).await;
    again.assert_problem(StatusCode::CONFLICT, "hold-not-open");
    assert_eq!(again.body["hold_status"], "captured");
    void(&app, id, held)
        .await
        .assert_problem(StatusCode::CONFLICT, "hold-not-open");
    assert_eq!(count_events(&app, id, "HoldCaptured").await, 1);
    assert_eq!(money(&app, id).await, (5_000, 0, 5_000));

    let ledger = ledger(&app).await;
    assert_eq!(ledger.body["currencies"][0]["total"], 5_000, "{}", ledger.text);
    assert_eq!(ledger.body["currencies"][0]["held"], 0, "{}", ledger.text);
    assert_eq!(ledger.body["currencies"][0]["held_exact"], "0", "{}", ledger.text);
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

async fn a_partial_capture_releases_the_rest_and_is_a_movement(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let first = hold(&app, id, 3_000, 3_600).await;
    let second = hold(&app, id, 2_000, 3_600).await;
    let summary = ledger(&app).await;
    assert_eq!(summary.body["currencies"][0]["held"], 5_000, "{}", summary.text);

    let captured = capture(&app, id, first, json!({ "amount": 1_200 })).await;
    assert_eq!(captured.status, StatusCode::CREATED, "{}", captured.text);
    let movement = captured.body["transaction_id"].clone();
    assert_eq!(money(&app, id).await, (8_800, 2_000, 6_800));

    let view = read_hold(&app, id, first).await;
    assert_eq!(view["status"], "captured");
    assert_eq!(view["captured"], 1_200);
    assert_eq!(view["released"], 1_800);
    assert_eq!(view["transaction_id"], movement);

    let history = app.get(&format!("/accounts/{id}/transactions")).await;
    let newest = &history.body["items"][0];
    assert_eq!(newest["transaction_id"], movement, "{}", history.text);
    assert_eq!(newest["kind"], "hold_capture");
    assert_eq!(newest["amount"], -1_200);
    assert_eq!(newest["balance_after"], 8_800);

    let voided = void(&app, id, second).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.text);
    assert_eq!(money(&app, id).await, (8_800, 0, 8_800));
    assert_eq!(read_hold(&app, id, second).await["status"], "voided");
    let summary = ledger(&app).await;
    assert_eq!(summary.body["currencies"][0]["held"], 0, "{}", summary.text);
    assert_eq!(summary.body["currencies"][0]["total"], 8_800, "{}", summary.text);
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

async fn holds_are_listed_by_status_a_page_at_a_time_and_as_they_were_at_an_instant(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let before: DateTime<Utc> = app.clock.now();
    app.clock.advance(TimeDelta::seconds(1));
    let first = hold(&app, id, 100, 3_600).await;
    let second = hold(&app, id, 200, 3_600).await;
    let third = hold(&app, id, 300, 3_600).await;
    app.clock.advance(TimeDelta::seconds(10));
    let all_open = app.clock.now();
    app.clock.advance(TimeDelta::seconds(10));
    assert_eq!(void(&app, id, second).await.status, StatusCode::OK);
    app.clock.advance(TimeDelta::seconds(10));
    assert_eq!(
        capture(&app, id, third, json!({})).await.status,
        StatusCode::CREATED
    );
    let head = app.caught_up().await;

    let ids = |page: &TestResponse| -> Vec<Uuid> {
        page.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|item| {
                item["hold_id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("hold_id")
            })
            .collect()
    };
    let list = |query: String| {
        let app = &app;
        async move {
            let page = app
                .get(&format!("/accounts/{id}/holds?min_position={head}{query}"))
                .await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.text);
            page
        }
    };
    assert_eq!(ids(&list(String::new()).await), vec![third, second, first]);
    assert_eq!(ids(&list("&status=open".into()).await), vec![first]);
    assert_eq!(ids(&list("&status=voided".into()).await), vec![second]);
    assert_eq!(ids(&list("&status=captured".into()).await), vec![third]);

    let page = list("&limit=2".into()).await;
    assert_eq!(ids(&page), vec![third, second]);
    let cursor = page.body["next_cursor"].as_str().expect("a next page").to_owned();
    let last = list(format!("&limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&last), vec![first]);
    assert!(last.body["next_cursor"].is_null());

    let at = |instant: DateTime<Utc>| format!("&at={}", instant.to_rfc3339().replace('+', "%2B"));
    assert_eq!(ids(&list(at(before)).await), Vec::<Uuid>::new());
    let then = list(at(all_open)).await;
    assert_eq!(ids(&then), vec![third, second, first]);
    for item in then.body["items"].as_array().expect("items") {
        assert_eq!(item["status"], "open", "{}", then.text);
        assert!(item["settled_at"].is_null(), "{}", then.text);
    }
    assert_eq!(ids(&list(at(app.clock.now())).await), vec![first]);
    // Open then, whatever it is now.
    assert_eq!(
        ids(&list(format!("{}&status=open", at(all_open))).await),
        vec![third, second, first]
    );
    app.get(&format!(
        "/accounts/{id}/holds{}",
        at(before - TimeDelta::days(1)).replacen('&', "?", 1)
    ))
    .await
    .assert_problem(StatusCode::NOT_FOUND, "account-not-yet-opened");
    app.get(&format!(
        "/accounts/{id}/holds{}&status=voided",
        at(all_open).replacen('&', "?", 1)
    ))
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    app.get(&format!("/accounts/{}/holds", Uuid::now_v7()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    app.get(&format!("/accounts/{id}/holds/{}", Uuid::now_v7()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "hold-not-found");
}

async fn a_hold_past_its_deadline_is_expired_once_by_the_scheduler_of_two_processes(db: TestDb) {
    let app = TestApp::new(db).await;
    // A second process on the same database, with its own scheduler.
    let other = foldbank::app::App::new(
        app.db.databases(),
        std::sync::Arc::new(app.clock.clone()),
        std::sync::Arc::new(foldbank::clock::UuidV7),
    )
    .with_master_key(crate::common::master_key());
    let id = app.open_account_with(10_000).await;
    let lapsing = hold(&app, id, 4_000, 60).await;
    let kept = hold(&app, id, 1_000, 3_600).await;
    let schedulers = [
        app.service.start_hold_expiry(Duration::from_millis(20)),
        other.start_hold_expiry(Duration::from_millis(20)),
    ];
    assert_eq!(money(&app, id).await, (10_000, 5_000, 5_000));

    app.clock.advance(TimeDelta::seconds(61));
    let expired = wait_for_status(&app, id, lapsing, "expired").await;
    assert_eq!(expired["released"], 4_000);
    let expired_at: DateTime<Utc> = expired["settled_at"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("settled_at");
    let deadline: DateTime<Utc> = expired["expires_at"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("expires_at");
    assert!(expired_at >= deadline, "{expired}");

    // More rounds of both schedulers pass; the expiry stays recorded once.
    app.clock.advance(TimeDelta::seconds(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count_events(&app, id, "HoldExpired").await, 1);
    assert_eq!(money(&app, id).await, (10_000, 1_000, 9_000));
    assert_eq!(read_hold(&app, id, kept).await["status"], "open");
    capture(&app, id, lapsing, json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "hold-not-open");

    app.service.shutdown.cancel();
    other.shutdown.cancel();
    for scheduler in schedulers {
        scheduler.await.expect("the scheduler stops");
    }
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

async fn a_round_expires_the_soonest_deadline_first_and_the_same_deadline_by_hold_id(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    // Placed in an order that is neither the deadlines' nor the ids': the order of the
    // expiries in the log is the round's, one the log's readers (and the generated histories'
    // model) can predict.
    let (lower, higher) = (Uuid::now_v7(), Uuid::now_v7());
    let longest = hold(&app, id, 1_000, 3_600).await;
    for hold_id in [higher, lower] {
        let placed = place(
            &app,
            id,
            json!({ "hold_id": hold_id, "amount": 2_000, "currency": "EUR", "expires_in_secs": 60 }),
        )
        .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
        // Each in a batch of its own: the rows are written in the order placed.
        app.caught_up().await;
    }
    app.clock.advance(TimeDelta::seconds(3_600));
    app.caught_up().await;

    let round = app
        .service
        .hold_expiry(Duration::from_secs(1))
        .expire_due()
        .await
        .expect("a round");
    assert_eq!((round.expired, round.failed), (3, 0), "{round:?}");
    let expired: Vec<Uuid> = app
        .events(id)
        .await
        .iter()
        .filter(|event| event["type"] == "HoldExpired")
        .map(|event| {
            event["data"]["hold_id"]
                .as_str()
                .and_then(|hold| hold.parse().ok())
                .expect("hold_id")
        })
        .collect();
    assert_eq!(expired, [lower, higher, longest]);
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

/// Posts `body` to `path` on `router` (a process of its own); the status and the body.
async fn post_to(router: axum::Router, path: String, body: Value) -> (StatusCode, Value) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let request = axum::http::Request::post(path)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .expect("a request");
    let response = router.oneshot(request).await.expect("the router answers");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn expiry_rounds_of_two_processes_at_once_record_one_expiry_per_hold(db: TestDb) {
    let app = TestApp::new(db).await;
    let other = foldbank::app::App::new(
        app.db.databases(),
        std::sync::Arc::new(app.clock.clone()),
        std::sync::Arc::new(foldbank::clock::UuidV7),
    )
    .with_master_key(crate::common::master_key());
    let id = app.open_account_with(10_000).await;
    let mut holds = Vec::new();
    for amount in [1_000, 2_000, 3_000] {
        holds.push(hold(&app, id, amount, 60).await);
    }
    app.clock.advance(TimeDelta::seconds(60));
    app.caught_up().await;

    // No leadership here: both rounds read the same due holds and race to the log.
    let every = Duration::from_secs(1);
    let (this_process, the_other) = (app.service.hold_expiry(every), other.hold_expiry(every));
    let (mine, theirs) = tokio::join!(this_process.expire_due(), the_other.expire_due());
    let (mine, theirs) = (mine.expect("a round"), theirs.expect("a round"));
    assert_eq!((mine.failed, theirs.failed), (0, 0));
    assert_eq!(mine.expired + theirs.expired, 3, "{mine:?} {theirs:?}");
    assert_eq!(count_events(&app, id, "HoldExpired").await, 3);
    for held in holds {
        assert_eq!(read_hold(&app, id, held).await["status"], "expired");
    }
    assert_eq!(money(&app, id).await, (10_000, 0, 10_000));
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

async fn a_deadline_is_kept_to_the_microsecond_as_the_databases_store_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let hold_id = Uuid::now_v7();
    let deadline = app.clock.now() + TimeDelta::hours(1) + TimeDelta::nanoseconds(123_456_789);
    let terms = |expires_at: String| json!({ "hold_id": hold_id, "amount": 100, "currency": "EUR", "expires_at": expires_at });
    let placed = place(
        &app,
        id,
        terms(deadline.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
    let read = read_hold(&app, id, hold_id).await;
    assert_eq!(read["expires_at"], placed.body["expires_at"]);
    let stored: DateTime<Utc> = read["expires_at"]
        .as_str()
        .and_then(|at| at.parse().ok())
        .expect("expires_at");
    assert_eq!(stored.timestamp_subsec_nanos() % 1_000, 0, "{read}");
    // The deadline read back names the same hold.
    let again = place(
        &app,
        id,
        terms(read["expires_at"].as_str().expect("text").to_owned()),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(count_events(&app, id, "HoldPlaced").await, 1);
    place(&app, id, terms("2026-03-02T10:59:60Z".to_owned()))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

/// Polls the hold until it has `status` (at most 30 s: CI machines can be busy).
async fn wait_for_status(app: &TestApp, account: Uuid, hold: Uuid, status: &str) -> Value {
    for _ in 0..600 {
        let view = read_hold(app, account, hold).await;
        if view["status"] == status {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hold {hold} never became {status}");
}

async fn a_hold_past_its_deadline_cannot_be_captured_before_the_scheduler_records_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let lapsing = hold(&app, id, 4_000, 5).await;
    app.clock.advance(TimeDelta::seconds(5));
    let late = capture(&app, id, lapsing, json!({})).await;
    late.assert_problem(StatusCode::CONFLICT, "hold-not-open");
    assert_eq!(late.body["hold_status"], "expired");
    void(&app, id, lapsing)
        .await
        .assert_problem(StatusCode::CONFLICT, "hold-not-open");
    assert_eq!(count_events(&app, id, "HoldCaptured").await, 0);
    assert_eq!(count_events(&app, id, "HoldVoided").await, 0);
}

async fn concurrent_captures_and_voids_of_one_hold_have_exactly_one_winner(db: TestDb) {
    let app = TestApp::new(db).await;
    // Two processes on one database: their commands race to the log, not to one lock.
    let other = foldbank::app::App::new(
        app.db.databases(),
        std::sync::Arc::new(app.clock.clone()),
        std::sync::Arc::new(foldbank::clock::UuidV7),
    )
    .with_master_key(crate::common::master_key())
    .router(foldbank::app::HttpSettings::default());
    let id = app.open_account_with(10_000).await;
    let contested = hold(&app, id, 6_000, 3_600).await;
    let attempts = (0..8_i64).map(|attempt| {
        let router = if attempt % 4 < 2 {
            app.router.clone()
        } else {
            other.clone()
        };
        let (action, body) = match attempt % 2 {
            0 => ("capture", json!({ "amount": 1_000 + attempt })),
            _ => ("void", json!({})),
        };
        let path = format!("/accounts/{id}/holds/{contested}/{action}");
        tokio::spawn(post_to(router, path, body))
    });
    let mut answers = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        answers.push(attempt.await.expect("the request runs"));
    }
    let winners = answers.iter().filter(|(status, _)| status.is_success()).count();
    assert_eq!(winners, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(status, _)| !status.is_success()) {
        assert_eq!(*status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["type"], "urn:foldbank:problem:hold-not-open", "{body}");
    }
    let settlements =
        count_events(&app, id, "HoldCaptured").await + count_events(&app, id, "HoldVoided").await;
    assert_eq!(settlements, 1);
    let (balance, held, available) = money(&app, id).await;
    assert_eq!(held, 0);
    assert_eq!(available, balance);
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

async fn the_daily_limit_counts_a_hold_when_placed_and_gets_back_what_is_released(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app
        .open_account(json!({ "initial_deposit": 100_000, "daily_withdrawal_limit": 10_000 }))
        .await;
    let first = hold(&app, id, 7_000, 3_600).await;
    let over = place(
        &app,
        id,
        json!({ "amount": 4_000, "currency": "EUR", "expires_in_secs": 60 }),
    )
    .await;
    over.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "daily-limit-exceeded");
    let withdrawal = |amount: i64| {
        let app = &app;
        async move {
            app.post(
                &format!("/accounts/{id}/withdrawals"),
                json!({ "amount": amount, "currency": "EUR" }),
            )
            .await
        }
    };
    withdrawal(4_000)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "daily-limit-exceeded");

    // Capturing 2,000 releases 5,000 of today's limit: 3,000 + 2,000 withdrawn now is 10,000.
    let captured = capture(&app, id, first, json!({ "amount": 2_000 })).await;
    assert_eq!(captured.status, StatusCode::CREATED, "{}", captured.text);
    assert_eq!(withdrawal(8_000).await.status, StatusCode::CREATED);
    withdrawal(1)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "daily-limit-exceeded");
}

async fn a_frozen_account_refuses_new_holds_but_pays_its_captures(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let authorized = hold(&app, id, 2_500, 3_600).await;
    let frozen = app
        .post(
            &format!("/accounts/{id}/freeze"),
            json!({ "reason": "card lost" }),
        )
        .await;
    assert_eq!(frozen.status, StatusCode::OK, "{}", frozen.text);
    place(
        &app,
        id,
        json!({ "amount": 100, "currency": "EUR", "expires_in_secs": 60 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-frozen");
    let captured = capture(&app, id, authorized, json!({})).await;
    assert_eq!(captured.status, StatusCode::CREATED, "{}", captured.text);
    assert_eq!(money(&app, id).await, (7_500, 0, 7_500));
}

async fn an_account_with_open_holds_cannot_close(db: TestDb) {
    let app = TestApp::new(db).await;
    // At a zero balance, the overdraft is what the hold takes.
    let id = app.open_account(json!({ "overdraft_limit": 1_000 })).await;
    let authorized = hold(&app, id, 1_000, 3_600).await;
    let path = format!("/accounts/{id}/close");
    let close = || app.post(&path, json!({}));
    close()
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "holds-open");
    assert_eq!(void(&app, id, authorized).await.status, StatusCode::OK);
    assert_eq!(close().await.status, StatusCode::OK);
    place(
        &app,
        id,
        json!({ "amount": 1, "currency": "EUR", "expires_in_secs": 60 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-closed");
}

async fn a_hold_placed_again_changes_nothing_and_an_id_names_one_hold(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let hold_id = Uuid::now_v7();
    let expires_at = (app.clock.now() + TimeDelta::hours(1)).to_rfc3339();
    let terms = json!({ "hold_id": hold_id, "amount": 3_000, "currency": "EUR", "expires_at": expires_at });
    let first = place(&app, id, terms.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(
        first.header("location"),
        Some(format!("/accounts/{id}/holds/{hold_id}").as_str())
    );
    let again = place(&app, id, terms).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(again.body["hold_id"], first.body["hold_id"]);
    assert_eq!(again.body["expires_at"], first.body["expires_at"]);
    assert_eq!(again.body["version"], first.body["version"]);
    assert_eq!(count_events(&app, id, "HoldPlaced").await, 1);
    assert_eq!(money(&app, id).await, (10_000, 3_000, 7_000));

    let other_terms =
        json!({ "hold_id": hold_id, "amount": 2_000, "currency": "EUR", "expires_at": expires_at });
    place(&app, id, other_terms.clone())
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "hold-id-reused");
    // Another account may use the same id for a hold of its own.
    let other = app.open_account_with(5_000).await;
    let theirs = place(&app, other, other_terms).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text);
    assert_eq!(read_hold(&app, id, hold_id).await["amount"], 3_000);
    assert_eq!(read_hold(&app, other, hold_id).await["amount"], 2_000);
    assert_read_models_are_the_fold_of_the_log(&app).await;
}

async fn bad_hold_requests_are_clear_problems_and_write_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let id = app.open_account_with(10_000).await;
    let version_before = account(&app, id).await["version"].clone();
    let far = (app.clock.now() + TimeDelta::days(31)).to_rfc3339();
    let past = (app.clock.now() - TimeDelta::seconds(1)).to_rfc3339();
    let malformed = [
        json!({ "amount": 100, "currency": "EUR" }),
        json!({ "amount": 100, "currency": "EUR", "expires_in_secs": 60, "expires_at": far }),
        json!({ "amount": 100, "currency": "EUR", "expires_in_secs": 0 }),
        json!({ "amount": 100, "currency": "EUR", "expires_in_secs": 2_592_001 }),
        json!({ "amount": 0, "currency": "EUR", "expires_in_secs": 60 }),
        json!({ "amount": 100, "currency": "EURO", "expires_in_secs": 60 }),
    ];
    for body in malformed {
        place(&app, id, body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    }
    for expires_at in [far, past] {
        place(
            &app,
            id,
            json!({ "amount": 100, "currency": "EUR", "expires_at": expires_at }),
        )
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "hold-expiry-out-of-range");
    }
    place(
        &app,
        id,
        json!({ "amount": 100, "currency": "USD", "expires_in_secs": 60 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "currency-mismatch");
    place(
        &app,
        id,
        json!({ "amount": 10_001, "currency": "EUR", "expires_in_secs": 60 }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    capture(&app, id, Uuid::now_v7(), json!({}))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "hold-not-found");
    void(&app, id, Uuid::now_v7())
        .await
        .assert_problem(StatusCode::NOT_FOUND, "hold-not-found");
    place(
        &app,
        Uuid::now_v7(),
        json!({ "amount": 100, "currency": "EUR", "expires_in_secs": 60 }),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    app.post(&format!("/accounts/{id}/holds/not-a-uuid/void"), json!({}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    assert_eq!(account(&app, id).await["version"], version_before);

    let small = hold(&app, id, 500, 60).await;
    let too_much = capture(&app, id, small, json!({ "amount": 501 })).await;
    too_much.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "capture-exceeds-hold");
    capture(&app, id, small, json!({ "amount": -1 }))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    capture(&app, id, small, json!({ "amount": 1, "extra": true }))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    assert_eq!(read_hold(&app, id, small).await["status"], "open");
}

async fn a_customer_holds_money_on_its_own_accounts_only(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = Uuid::now_v7();
    let mine = app
        .open_account(json!({ "owner_id": owner, "initial_deposit": 5_000 }))
        .await;
    let theirs = app.open_account_with(5_000).await;
    let theirs_held = hold(&app, theirs, 1_000, 3_600).await;
    let (_, key) = app.create_key(Role::Customer(OwnerId(owner))).await;
    let app = app.requiring_keys();
    let as_customer = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let key = key.clone();
        async move { app.send_as(Some(&key), method, &path, body).await }
    };
    let terms = json!({ "amount": 1_000, "currency": "EUR", "expires_in_secs": 60 });
    let placed = as_customer(
        Method::POST,
        format!("/accounts/{mine}/holds"),
        Some(terms.clone()),
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
    let held = placed.body["hold_id"].as_str().expect("hold_id").to_owned();
    let voided = as_customer(Method::POST, format!("/accounts/{mine}/holds/{held}/void"), None).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.text);
    // Reads wait for the read models to reflect the log (they follow it a moment behind).
    let head = app.caught_up().await;
    let listed = as_customer(
        Method::GET,
        format!("/accounts/{mine}/holds?min_position={head}"),
        None,
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);

    as_customer(Method::POST, format!("/accounts/{theirs}/holds"), Some(terms))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    for action in ["capture", "void"] {
        as_customer(
            Method::POST,
            format!("/accounts/{theirs}/holds/{theirs_held}/{action}"),
            None,
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    }
    for path in [
        format!("/accounts/{theirs}/holds"),
        format!("/accounts/{theirs}/holds/{theirs_held}"),
    ] {
        as_customer(Method::GET, path, None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    }
}
