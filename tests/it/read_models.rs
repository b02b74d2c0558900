//! The read side: projector, read models, queries, read-your-writes, time travel.

use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use foldbank::clock::Clock;
use foldbank::command::SNAPSHOT_EVERY;
use foldbank::domain::Decider;
use foldbank::domain::account::{
    AccountDecider, AccountEvent, AccountState, AccountStatus, STATE_SCHEMA_VERSION,
};
use foldbank::domain::ids::AccountId;
use foldbank::query::PointInTime;
use foldbank::store::{Snapshot, codec};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests, test_start};

backend_tests!(
    read_models_equal_the_fold_of_the_log_after_random_histories,
    the_balance_at_any_instant_equals_the_fold_of_the_events_up_to_it,
    a_failing_batch_leaves_no_partial_effect_and_is_applied_once_after_recovery,
    a_restarted_projector_resumes_from_its_checkpoint,
    min_position_returns_fresh_data_right_after_a_command,
    the_latest_balance_includes_a_movement_dated_ahead_of_the_serving_clock,
    a_position_the_read_models_have_not_reached_answers_503_after_the_wait,
    a_position_beyond_the_head_of_the_log_answers_400_at_once,
    bad_query_input_answers_400,
    accounts_can_be_filtered_and_paged_through,
    transactions_are_listed_newest_first_and_paged_through,
    time_travel_shows_the_account_as_it_was,
    time_travel_from_the_latest_snapshot_equals_the_full_fold,
    projection_status_reports_checkpoints_and_lag,
    appends_by_another_process_reach_the_read_models,
    rebuilding_the_read_models_replays_the_log_into_the_same_rows,
    events_stored_in_an_old_schema_are_upcast_on_read,
);

/// One step of a random history.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Deposit(usize, i64),
    Withdraw(usize, i64),
    Freeze(usize),
    Unfreeze(usize),
    Close(usize),
    /// Moves the clock forward by this many minutes.
    Wait(i64),
}

const ACCOUNTS: usize = 3;

pub(crate) fn step() -> impl Strategy<Value = Step> {
    let account = 0..ACCOUNTS;
    prop_oneof![
        4 => (account.clone(), 1..5_000_i64).prop_map(|(a, n)| Step::Deposit(a, n)),
        4 => (account.clone(), 1..5_000_i64).prop_map(|(a, n)| Step::Withdraw(a, n)),
        1 => account.clone().prop_map(Step::Freeze),
        1 => account.clone().prop_map(Step::Unfreeze),
        1 => account.prop_map(Step::Close),
        2 => (0..(3 * 24 * 60_i64)).prop_map(Step::Wait),
    ]
}

/// Samples `cases` values of `strategy` from a fixed seed, so runs are reproducible.
pub(crate) fn samples<S: Strategy>(strategy: S, cases: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    (0..cases)
        .map(|_| strategy.new_tree(&mut runner).expect("a sample").current())
        .collect()
}

/// Applies `steps` over HTTP to freshly opened accounts; returns their ids.
pub(crate) async fn play(app: &TestApp, steps: &[Step], terms: &[Value]) -> Vec<Uuid> {
    let mut accounts = Vec::new();
    for terms in terms {
        accounts.push(app.open_account(terms.clone()).await);
    }
    for step in steps {
        let (path, body) = match step {
            Step::Deposit(a, amount) => (
                format!("/accounts/{}/deposits", accounts[*a]),
                json!({ "amount": amount, "currency": "EUR", "description": format!("in {amount}") }),
            ),
            Step::Withdraw(a, amount) => (
                format!("/accounts/{}/withdrawals", accounts[*a]),
                json!({ "amount": amount, "currency": "EUR" }),
            ),
            Step::Freeze(a) => (
                format!("/accounts/{}/freeze", accounts[*a]),
                json!({ "reason": "check" }),
            ),
            Step::Unfreeze(a) => (format!("/accounts/{}/unfreeze", accounts[*a]), json!({})),
            Step::Close(a) => (format!("/accounts/{}/close", accounts[*a]), json!({})),
            Step::Wait(minutes) => {
                app.clock.advance(Duration::minutes(*minutes));
                continue;
            }
        };
        let response = app.post(&path, body).await;
        assert!(
            response.status.is_success() || response.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            response.text
        );
    }
    accounts
}

pub(crate) fn account_terms() -> Vec<Value> {
    vec![
        json!({ "initial_deposit": 2_000 }),
        json!({ "overdraft_limit": 3_000 }),
        json!({ "initial_deposit": 500, "daily_withdrawal_limit": 4_000 }),
    ]
}

/// Every page of an account's history, newest first.
async fn all_transactions(app: &TestApp, account: Uuid, page_size: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/accounts/{account}/transactions?limit={page_size}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// Asserts that the read models of `account` equal the fold of its events.
pub(crate) async fn assert_read_models_match_the_log(app: &TestApp, account: Uuid) {
    let loaded = app
        .service
        .http
        .commands
        .replay(AccountId(account))
        .await
        .expect("load");
    let AccountState::Opened(folded) = loaded.state else {
        panic!("account {account} was opened");
    };
    let row = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(row.status, StatusCode::OK, "{}", row.text);
    let body = &row.body;
    assert_eq!(
        body["balance"], folded.balance.minor_units,
        "balance of {account}"
    );
    assert_eq!(body["available"], folded.available());
    assert_eq!(body["status"], folded.status.as_str());
    assert_eq!(body["version"], loaded.version);
    assert_eq!(body["position"], loaded.position);
    assert_eq!(body["overdraft_limit"], folded.overdraft_limit.minor_units());
    assert_eq!(
        body["daily_withdrawal_limit"],
        json!(folded.daily_withdrawal_limit.map(|l| l.minor_units()))
    );
    let (expected_reason, expected_by) = match &folded.status {
        // Sealed in the log, opened in the answer.
        AccountStatus::Frozen { reason, by } => (
            json!(app.open_personal(reason.as_str()).await.expect("a sealed reason")),
            json!(by.to_string()),
        ),
        _ => (Value::Null, Value::Null),
    };
    assert_eq!(body["frozen_reason"], expected_reason);
    assert_eq!(body["frozen_by"], expected_by);

    // The history equals the movements in the log, with a running balance.
    let mut expected = Vec::new();
    let mut balance = 0;
    for event in app.events(account).await {
        let data = &event["data"];
        let amount = data["amount"].as_i64().unwrap_or(0);
        let (signed, id) = match event["type"].as_str() {
            Some("MoneyDeposited" | "TransferCredited" | "TransferRefunded") => {
                (amount, &data["transaction_id"])
            }
            Some("MoneyWithdrawn" | "TransferDebited") => (-amount, &data["transaction_id"]),
            Some("TransactionReversed") => {
                (data["signed_amount"].as_i64().unwrap_or(0), &data["reversal_id"])
            }
            _ => continue,
        };
        balance += signed;
        expected.push((
            id.clone(),
            json!(signed),
            json!(balance),
            event["version"].clone(),
        ));
    }
    expected.reverse();
    let listed: Vec<_> = all_transactions(app, account, 7)
        .await
        .into_iter()
        .map(|t| {
            (
                t["transaction_id"].clone(),
                t["amount"].clone(),
                t["balance_after"].clone(),
                t["version"].clone(),
            )
        })
        .collect();
    assert_eq!(listed, expected, "history of {account}");
}

async fn read_models_equal_the_fold_of_the_log_after_random_histories(db: TestDb) {
    let app = TestApp::new(db).await;
    for steps in samples(proptest::collection::vec(step(), 20..60), 4) {
        let accounts = play(&app, &steps, &account_terms()).await;
        app.caught_up().await;
        for account in accounts {
            assert_read_models_match_the_log(&app, account).await;
        }
    }
}

async fn the_balance_at_any_instant_equals_the_fold_of_the_events_up_to_it(db: TestDb) {
    let app = TestApp::new(db).await;
    let opened_at = app.clock.now();
    let steps = samples(proptest::collection::vec(step(), 80), 1).remove(0);
    let accounts = play(&app, &steps, &account_terms()).await;
    app.caught_up().await;
    let span = (app.clock.now() - opened_at).num_seconds() + 2 * 3600;
    assert!(span > 24 * 3600, "the history spans days");

    let offsets = samples(-3600..span - 3600, 200);
    for (index, offset) in offsets.into_iter().enumerate() {
        let account = accounts[index % accounts.len()];
        let at: DateTime<Utc> = opened_at + Duration::seconds(offset);
        let response = app
            .get(&format!(
                "/accounts/{account}/balance?at={}",
                at.to_rfc3339().replace('+', "%2B")
            ))
            .await;
        match app
            .service
            .http
            .history
            .at(AccountId(account), at)
            .await
            .expect("fold")
        {
            PointInTime::Opened { account: folded, .. } => {
                assert_eq!(response.status, StatusCode::OK, "{}", response.text);
                assert_eq!(
                    response.body["balance"], folded.balance.minor_units,
                    "balance at {at}"
                );
                assert_eq!(response.body["currency"], "EUR");
                assert_eq!(response.body["as_of"], json!(at));
            }
            PointInTime::NotYetOpened => {
                response.assert_problem(StatusCode::NOT_FOUND, "account-not-yet-opened");
            }
            PointInTime::Unknown => panic!("the account exists"),
        }
    }
}

/// Waits (at most 10 s) until every read-model projection reports an error.
async fn wait_for_projection_error(app: &TestApp) {
    let read_models = foldbank::app::projection_names();
    for _ in 0..200 {
        let failing = app
            .service
            .http
            .followers
            .states()
            .into_iter()
            .filter(|state| read_models.contains(&state.name) && state.last_error.is_some())
            .count();
        if failing == read_models.len() {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    panic!("the injected failure was never reported");
}

async fn a_failing_batch_leaves_no_partial_effect_and_is_applied_once_after_recovery(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let account = app.open_account_with(1_000).await;
    let before = app.caught_up().await;
    let before_row = app.get(&format!("/accounts/{account}")).await.body;

    // Four events wait in the log; every batch will fail after applying two of them.
    app.stop_projector().await;
    for amount in [10, 20, 30, 40] {
        app.post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": amount, "currency": "EUR" }),
        )
        .await;
    }
    app.service.faults.fail_batches_after(2);
    app.start_projector_in_background();
    wait_for_projection_error(&app).await;

    let during = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(during.body, before_row, "no partial effect of the failed batch");
    assert_eq!(
        during.header("x-projection-position"),
        Some(before.to_string().as_str())
    );
    assert_eq!(all_transactions(&app, account, 50).await.len(), 1);
    let status = app.get("/projections").await;
    assert!(
        status.body["projections"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("injected"))
    );
    assert_eq!(status.body["projections"][0]["lag_events"], 4);

    app.service.faults.disarm();
    app.caught_up().await;
    assert_read_models_match_the_log(&app, account).await;
    assert_eq!(
        app.get(&format!("/accounts/{account}")).await.body["balance"],
        1_100
    );
    assert_eq!(all_transactions(&app, account, 50).await.len(), 5);
    assert!(
        app.service
            .http
            .followers
            .states()
            .iter()
            .all(|state| state.last_error.is_none())
    );
}

async fn a_restarted_projector_resumes_from_its_checkpoint(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    let checkpoint = app.caught_up().await;

    app.stop_projector().await;
    for amount in [5, 6, 7] {
        app.post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": amount, "currency": "EUR" }),
        )
        .await;
    }
    let stale = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(
        stale.header("x-projection-position"),
        Some(checkpoint.to_string().as_str())
    );
    assert_eq!(stale.body["balance"], 100);

    let app = app.with_projector().await;
    let head = app.caught_up().await;
    let fresh = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(
        fresh.header("x-projection-position"),
        Some(head.to_string().as_str())
    );
    assert_eq!(fresh.body["balance"], 118);
    assert_read_models_match_the_log(&app, account).await;
}

async fn min_position_returns_fresh_data_right_after_a_command(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    for n in 1..=10_i64 {
        let deposit = app
            .post(
                &format!("/accounts/{account}/deposits"),
                json!({ "amount": n, "currency": "EUR" }),
            )
            .await;
        let position = deposit.body["position"].as_i64().expect("position");

        let read = app
            .get(&format!("/accounts/{account}?min_position={position}"))
            .await;
        let history = app
            .get(&format!(
                "/accounts/{account}/transactions?min_position={position}&limit=1"
            ))
            .await;

        assert_eq!(read.body["balance"], n * (n + 1) / 2);
        assert_eq!(read.body["version"], deposit.body["version"]);
        let reflected: i64 = read
            .header("x-projection-position")
            .and_then(|p| p.parse().ok())
            .expect("header");
        assert!(reflected >= position);
        assert_eq!(
            history.body["items"][0]["transaction_id"],
            deposit.body["transaction_id"]
        );
    }
}

/// Another node's clock may run ahead of this one's: a movement it dated is still part of the
/// latest balance here. (The handler never dates an event before its predecessor, so a clock
/// that steps back yields exactly such an event.)
async fn the_latest_balance_includes_a_movement_dated_ahead_of_the_serving_clock(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    let ahead = test_start() + Duration::hours(1);
    app.clock.set(ahead);
    app.post(
        &format!("/accounts/{account}/deposits"),
        json!({ "amount": 20, "currency": "EUR" }),
    )
    .await;
    app.clock.set(ahead - Duration::minutes(30));

    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 3, "currency": "EUR" }),
        )
        .await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
    let position = deposit.body["position"].as_i64().expect("position");
    let read = app
        .get(&format!("/accounts/{account}/balance?min_position={position}"))
        .await;

    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.body["balance"], 123);
    assert_eq!(read.body["version"], deposit.body["version"]);
    assert_eq!(read.body["as_of"], json!(ahead));
    assert!(app.clock.now() < ahead);
}

async fn a_position_the_read_models_have_not_reached_answers_503_after_the_wait(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let service = app.service.clone().with_read_wait(StdDuration::from_millis(200));
    app = app.with_service(service);
    let account = app.open_account(json!({})).await;
    app.caught_up().await;
    app.stop_projector().await;
    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 5, "currency": "EUR" }),
        )
        .await;
    let position = deposit.body["position"].as_i64().expect("position");

    for path in [
        format!("/accounts/{account}?min_position={position}"),
        format!("/accounts/{account}/transactions?min_position={position}"),
        format!("/accounts/{account}/balance?min_position={position}"),
        format!("/accounts?min_position={position}"),
    ] {
        let response = app.get(&path).await;
        response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "projection-behind");
        assert_eq!(response.header("retry-after"), Some("1"));
        assert_eq!(response.body["min_position"], position);
    }
}

/// No wait can meet a position the log has not reached: it is answered at once, without
/// holding a request slot for the read wait.
async fn a_position_beyond_the_head_of_the_log_answers_400_at_once(db: TestDb) {
    let mut app = TestApp::new(db).await;
    // A wait longer than the test's own patience: answering after it would hang the test.
    let service = app.service.clone().with_read_wait(StdDuration::from_secs(3_600));
    app = app.with_service(service);
    let account = app.open_account(json!({})).await;
    let head = app.caught_up().await;

    for path in [
        format!("/accounts/{account}?min_position={}", head + 1),
        format!("/accounts/{account}/transactions?min_position=1000000"),
        format!("/accounts/{account}/balance?min_position=1000000"),
        "/accounts?min_position=1000000".to_owned(),
        "/ledger/summary?min_position=1000000".to_owned(),
    ] {
        let response = app.get(&path).await;
        response.assert_problem(StatusCode::BAD_REQUEST, "position-beyond-head");
        assert_eq!(response.body["head"], head, "{path}");
    }
    let at_head = app.get(&format!("/accounts/{account}?min_position={head}")).await;
    assert_eq!(at_head.status, StatusCode::OK, "{}", at_head.text);
}

async fn bad_query_input_answers_400(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    let cases = [
        ("/accounts/not-a-uuid", "malformed-request"),
        ("/accounts/not-a-uuid/balance", "malformed-request"),
        ("/accounts/not-a-uuid/transactions", "malformed-request"),
        (
            &format!("/accounts/{account}?at=yesterday") as &str,
            "malformed-request",
        ),
        (
            &format!("/accounts/{account}/balance?at=2026-13-01T00:00:00Z"),
            "malformed-request",
        ),
        (
            &format!("/accounts/{account}/transactions?from=noon"),
            "malformed-request",
        ),
        (
            &format!("/accounts/{account}/transactions?limit=0"),
            "validation-failed",
        ),
        (
            &format!("/accounts/{account}/transactions?limit=10000"),
            "validation-failed",
        ),
        (
            &format!("/accounts/{account}/transactions?limit=ten"),
            "malformed-request",
        ),
        (
            &format!("/accounts/{account}/transactions?cursor=garbage"),
            "validation-failed",
        ),
        (
            &format!("/accounts/{account}/transactions?cursor=-4"),
            "validation-failed",
        ),
        (
            &format!("/accounts/{account}?min_position=-1"),
            "validation-failed",
        ),
        // Ignored with `at`, but not accepted out of its range (schemathesis found it).
        (
            &format!("/accounts/{account}?at=2026-03-02T10:00:00Z&min_position=-1"),
            "validation-failed",
        ),
        (
            &format!("/accounts/{account}/holds?at=2026-03-02T10:00:00Z&min_position=-1"),
            "validation-failed",
        ),
        ("/accounts?limit=0", "validation-failed"),
        ("/accounts?limit=10000", "validation-failed"),
        ("/accounts?cursor=garbage", "validation-failed"),
        ("/accounts?owner_id=nobody", "malformed-request"),
        ("/accounts?status=sleeping", "malformed-request"),
        (
            &format!("/accounts/{account}/balance?at=%2B10000-01-01T00:00:00Z"),
            "validation-failed",
        ),
        (
            &format!("/accounts/{account}?at=%2B10000-01-01T00:00:00Z"),
            "validation-failed",
        ),
        (
            &format!("/accounts/{account}/transactions?from=-4800-01-01T00:00:00Z"),
            "validation-failed",
        ),
    ];
    for (path, problem) in cases {
        let response = app.get(path).await;
        response.assert_problem(StatusCode::BAD_REQUEST, problem);
    }
}

async fn accounts_can_be_filtered_and_paged_through(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
    let mut alices = Vec::new();
    for _ in 0..5 {
        alices.push(app.open_account(json!({ "owner_id": alice })).await);
    }
    let bobs = app.open_account(json!({ "owner_id": bob })).await;
    app.post(
        &format!("/accounts/{}/freeze", alices[1]),
        json!({ "reason": "review" }),
    )
    .await;
    let head = app.caught_up().await;

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!(
                "/accounts?owner_id={alice}&limit=2&min_position={head}{cursor}"
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .filter_map(|item| item["account_id"].as_str().map(str::to_owned)),
        );
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let mut expected: Vec<String> = alices.iter().map(Uuid::to_string).collect();
    expected.sort();
    assert_eq!(seen, expected);

    let frozen = app.get("/accounts?status=frozen").await;
    let frozen_ids: Vec<&str> = frozen.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["account_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(frozen_ids, [alices[1].to_string()]);
    let bobs_page = app.get(&format!("/accounts?owner_id={bob}&status=active")).await;
    assert_eq!(bobs_page.body["items"][0]["account_id"], bobs.to_string());
    assert_eq!(bobs_page.body["items"].as_array().map(Vec::len), Some(1));
}

async fn transactions_are_listed_newest_first_and_paged_through(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let start = app.clock.now();
    for amount in 1..=12 {
        app.clock.advance(Duration::hours(1));
        app.post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": amount, "currency": "EUR" }),
        )
        .await;
    }
    app.caught_up().await;

    let all = all_transactions(&app, account, 5).await;
    let amounts: Vec<i64> = all.iter().filter_map(|t| t["amount"].as_i64()).collect();
    assert_eq!(amounts, (1..=12).rev().collect::<Vec<_>>());

    // [from, to) selects the deposits made in hours 3, 4 and 5.
    let from = (start + Duration::hours(3)).to_rfc3339().replace('+', "%2B");
    let to = (start + Duration::hours(6)).to_rfc3339().replace('+', "%2B");
    let window = app
        .get(&format!("/accounts/{account}/transactions?from={from}&to={to}"))
        .await;
    let amounts: Vec<i64> = window.body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|t| t["amount"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(amounts, [5, 4, 3]);

    let unknown = app
        .get(&format!("/accounts/{}/transactions", Uuid::now_v7()))
        .await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
}

async fn time_travel_shows_the_account_as_it_was(db: TestDb) {
    let app = TestApp::new(db).await;
    let opened = app.clock.now();
    let account = app.open_account_with(1_000).await;
    app.clock.advance(Duration::days(1));
    app.post(
        &format!("/accounts/{account}/withdrawals"),
        json!({ "amount": 300, "currency": "EUR" }),
    )
    .await;
    app.clock.advance(Duration::days(1));
    app.post(
        &format!("/accounts/{account}/freeze"),
        json!({ "reason": "audit" }),
    )
    .await;
    let at = |t: DateTime<Utc>| t.to_rfc3339().replace('+', "%2B");

    let first_day = app
        .get(&format!(
            "/accounts/{account}?at={}",
            at(opened + Duration::hours(12))
        ))
        .await;
    let second_day = app
        .get(&format!(
            "/accounts/{account}?at={}",
            at(opened + Duration::hours(36))
        ))
        .await;
    let now = app
        .get(&format!(
            "/accounts/{account}?at={}",
            at(opened + Duration::days(3))
        ))
        .await;
    let before = app
        .get(&format!(
            "/accounts/{account}?at={}",
            at(opened - Duration::seconds(1))
        ))
        .await;
    let unknown = app
        .get(&format!("/accounts/{}?at={}", Uuid::now_v7(), at(opened)))
        .await;

    assert_eq!(
        (
            first_day.body["balance"].clone(),
            first_day.body["status"].clone()
        ),
        (json!(1_000), json!("active"))
    );
    assert_eq!(first_day.body["version"], 2);
    assert_eq!(first_day.header("etag"), Some("\"2\""));
    assert_eq!(second_day.body["balance"], 700);
    assert_eq!(now.body["status"], "frozen");
    assert_eq!(now.body["frozen_reason"], "audit");
    assert_eq!(now.body["as_of"], json!(opened + Duration::days(3)));
    before.assert_problem(StatusCode::NOT_FOUND, "account-not-yet-opened");
    unknown.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
}

/// The account at `at`, folded from the very first event (no snapshot): what time travel must
/// answer, as `(balance, status, version, position, updated_at)`.
async fn full_fold_at(app: &TestApp, account: Uuid, at: DateTime<Utc>) -> Option<Value> {
    let recorded = app
        .service
        .store
        .read_stream("account", account, Some(at))
        .await
        .expect("read");
    let events = codec::decode_all::<AccountEvent>(&recorded).expect("decode");
    let AccountState::Opened(folded) = AccountDecider::fold(&events) else {
        return None;
    };
    let last = recorded.last().expect("an event");
    Some(json!([
        folded.balance.minor_units,
        folded.status.as_str(),
        last.stream_version,
        last.global_position,
        folded.updated_at,
    ]))
}

/// An account of 130 events has a snapshot at version 100. Time travel to instants before,
/// at and after the snapshot's last event answers what the fold of the whole stream up to
/// each instant answers; from the snapshot's instant on, it starts from the snapshot.
async fn time_travel_from_the_latest_snapshot_equals_the_full_fold(db: TestDb) {
    let app = TestApp::new(db).await;
    let opened = app.clock.now();
    let account = app.open_account_with(1_000).await;
    for n in 3..=130_i64 {
        app.clock.advance(Duration::minutes(1));
        let (path, amount) = if n % 3 == 0 {
            ("withdrawals", n)
        } else {
            ("deposits", 2 * n)
        };
        let response = app
            .post(
                &format!("/accounts/{account}/{path}"),
                json!({ "amount": amount, "currency": "EUR" }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    }
    let snapshot = app
        .service
        .store
        .load_snapshot("account", account)
        .await
        .expect("read")
        .expect("a snapshot");
    assert_eq!(snapshot.version, SNAPSHOT_EVERY);
    let AccountState::Opened(mut snapped) =
        serde_json::from_value::<AccountState>(snapshot.state.clone()).expect("a state")
    else {
        panic!("the snapshot holds an open account");
    };
    let taken = snapped.updated_at;

    let at = |t: DateTime<Utc>| t.to_rfc3339().replace('+', "%2B");
    let view = |body: &Value| {
        json!([
            body["balance"],
            body["status"],
            body["version"],
            body["position"],
            body["updated_at"]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok()),
        ])
    };
    let instants = [
        opened,
        opened + Duration::seconds(90),
        taken - Duration::minutes(30),
        taken - Duration::microseconds(1),
        taken,
        taken + Duration::seconds(30),
        taken + Duration::minutes(10),
        app.clock.now(),
        app.clock.now() + Duration::days(1),
    ];
    for instant in instants {
        let response = app.get(&format!("/accounts/{account}?at={}", at(instant))).await;
        assert_eq!(response.status, StatusCode::OK, "at {instant}: {}", response.text);
        let expected = full_fold_at(&app, account, instant).await.expect("opened");
        assert_eq!(view(&response.body), expected, "at {instant}");
    }
    app.get(&format!(
        "/accounts/{account}?at={}",
        at(opened - Duration::seconds(1))
    ))
    .await
    .assert_problem(StatusCode::NOT_FOUND, "account-not-yet-opened");

    // A doctored snapshot shows which answers start from it: those at or after its instant.
    snapped.balance.minor_units += 1_000_000;
    let doctored = serde_json::to_value(AccountState::Opened(snapped)).expect("encode");
    foldbank::db::query("UPDATE snapshots SET state = $1 WHERE stream_id = $2")
        .bind(doctored)
        .bind(account)
        .execute(&app.db.database)
        .await
        .expect("doctor the snapshot");
    let before = taken - Duration::microseconds(1);
    let answered = |instant: DateTime<Utc>| format!("/accounts/{account}?at={}", at(instant));
    let folded = |fold: Option<Value>| fold.expect("opened")[0].as_i64();
    assert_eq!(
        app.get(&answered(before)).await.body["balance"].as_i64(),
        folded(full_fold_at(&app, account, before).await),
        "before the snapshot's instant: replayed from the start"
    );
    assert_eq!(
        app.get(&answered(taken)).await.body["balance"].as_i64(),
        folded(full_fold_at(&app, account, taken).await).map(|balance| balance + 1_000_000),
        "from the snapshot's instant: started from the snapshot"
    );
}

async fn projection_status_reports_checkpoints_and_lag(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    let head = app.settled().await;

    let status = app.get("/projections").await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.body["head"], head);
    let names: Vec<&str> = status.body["projections"]
        .as_array()
        .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "account_balances",
            "account_transactions",
            "transfers",
            "ledger_totals",
            "account_holds",
            "transfer_process",
            "overdraft_fee_policy"
        ]
    );
    for projection in status.body["projections"].as_array().into_iter().flatten() {
        assert_eq!(projection["checkpoint"], head);
        assert_eq!(projection["lag_events"], 0);
        assert_eq!(projection["lag_ms"], 0);
    }

    app.stop_projector().await;
    app.post(
        &format!("/accounts/{account}/deposits"),
        json!({ "amount": 1, "currency": "EUR" }),
    )
    .await;
    let behind = app.get("/projections").await;
    assert_eq!(behind.body["head"], head + 1);
    assert_eq!(behind.body["projections"][0]["lag_events"], 1);
    assert!(
        behind.body["projections"][0]["lag_ms"]
            .as_i64()
            .is_some_and(|ms| ms >= 0)
    );
}

/// A second service process on the same database appends; this process's projector picks the
/// events up: by `LISTEN`/`NOTIFY` on PostgreSQL (polling is slowed to a minute there, so only
/// the notification can explain a quick catch-up), by polling on SQLite.
async fn appends_by_another_process_reach_the_read_models(db: TestDb) {
    let postgres = db.database.backend() == foldbank::db::Backend::Postgres;
    let other = foldbank::app::App::new(
        db.reconnect().await,
        std::sync::Arc::new(foldbank::clock::SystemClock),
        std::sync::Arc::new(foldbank::clock::UuidV7),
    )
    .with_master_key(crate::common::master_key());
    let mut app = TestApp::without_projector(db).await;
    let service = app.service.clone().with_poll_interval(if postgres {
        StdDuration::from_secs(60)
    } else {
        StdDuration::from_millis(100)
    });
    app = app.with_service(service);
    app.start_projector_in_background();
    let other_app = TestApp::around(other, app.clock.clone(), TestDb::sqlite().await);

    let account = other_app.open_account_with(250).await;
    let position = other_app.service.store.head_position().await.expect("head");

    app.service
        .http
        .followers
        .wait_for(
            &foldbank::app::projection_names(),
            position,
            StdDuration::from_secs(10),
        )
        .await
        .expect("this process's projector saw the other process's append");
    let read = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(read.body["balance"], 250);
}

/// `foldbank rebuild all` (the real binary) replays the log into a copy of every read model and
/// swaps the copies in: rows equal to the old ones, at the same checkpoints. It also deletes
/// the snapshots, which are derived from the log too.
async fn rebuilding_the_read_models_replays_the_log_into_the_same_rows(db: TestDb) {
    let app = TestApp::new(db).await;
    let steps = samples(proptest::collection::vec(step(), 40), 1).remove(0);
    let mut accounts = play(&app, &steps, &account_terms()).await;
    // A transfer too, between two accounts that can surely make it.
    let (sender, receiver) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    accounts.extend([sender, receiver]);
    let sent = app
        .post(
            "/transfers",
            json!({ "from_account": sender, "to_account": receiver, "amount": 1, "currency": "EUR" }),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let head = app.settled().await;
    let transfer = app
        .get(&format!(
            "/transfers/{}",
            sent.body["transfer_id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(transfer.body["status"], "completed", "{}", transfer.text);
    let mut before = Vec::new();
    for account in &accounts {
        before.push(app.get(&format!("/accounts/{account}")).await.body);
        before.push(
            app.get(&format!("/accounts/{account}/transactions?limit=500"))
                .await
                .body,
        );
        before.push(app.get(&format!("/accounts/{account}/transfers")).await.body);
    }
    let snapshotted = AccountId(accounts[0]);
    let loaded = app.service.http.commands.load(snapshotted).await.expect("load");
    let snapshot = Snapshot {
        stream_type: "account".into(),
        stream_id: snapshotted.as_uuid(),
        version: loaded.version,
        position: loaded.position,
        schema_version: STATE_SCHEMA_VERSION,
        state: serde_json::to_value(&loaded.state).expect("state as JSON"),
        taken_at: app.clock.now(),
    };
    app.service
        .store
        .save_snapshot(&snapshot)
        .await
        .expect("save a snapshot");
    before.push(app.get("/ledger/summary").await.body);

    let status = std::process::Command::new(env!("CARGO_BIN_EXE_foldbank"))
        .args(["rebuild", "all", "--log", "warn"])
        .args(app.db.cli_args())
        .status()
        .expect("run foldbank rebuild");
    assert!(status.success());
    assert_eq!(
        app.service
            .store
            .load_snapshot("account", snapshotted.as_uuid())
            .await
            .expect("read"),
        None,
        "rebuild all deletes the snapshots"
    );

    // The rows were swapped in when the command returned: the checkpoints never went back.
    let status = app.get("/projections").await;
    for projection in status.body["projections"].as_array().into_iter().flatten() {
        assert_eq!(projection["checkpoint"], head, "{}", status.body);
    }
    let mut after = Vec::new();
    for account in &accounts {
        after.push(app.get(&format!("/accounts/{account}")).await.body);
        after.push(
            app.get(&format!("/accounts/{account}/transactions?limit=500"))
                .await
                .body,
        );
        after.push(app.get(&format!("/accounts/{account}/transfers")).await.body);
    }
    after.push(app.get("/ledger/summary").await.body);
    assert_eq!(after, before);
}

/// A deposit stored in schema version 1 (money nested as one object) is never rewritten: the
/// audit trail shows it as stored, and every reader (the command side's fold, the projector,
/// time travel) sees it upcast to today's shape.
async fn events_stored_in_an_old_schema_are_upcast_on_read(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let v1 = foldbank::store::NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "MoneyDeposited".into(),
        schema_version: 1,
        payload: json!({
            "transaction_id": Uuid::now_v7(),
            "amount": { "minor_units": 700, "currency": "EUR" },
            "description": "before the schema change",
            "occurred_at": app.clock.now(),
        }),
        metadata: json!({}),
        occurred_at: app.clock.now(),
    };
    app.service
        .store
        .append(foldbank::store::Append::new("account", account, 1, vec![v1]))
        .await
        .expect("append v1");

    let withdrawal = app
        .post(
            &format!("/accounts/{account}/withdrawals"),
            json!({ "amount": 500, "currency": "EUR" }),
        )
        .await;
    assert_eq!(
        withdrawal.status,
        StatusCode::CREATED,
        "the fold saw 700: {}",
        withdrawal.text
    );
    app.caught_up().await;

    let stored = &app.events(account).await[1];
    assert_eq!(stored["schema_version"], 1);
    assert_eq!(
        stored["data"]["amount"],
        json!({ "minor_units": 700, "currency": "EUR" })
    );
    assert_eq!(
        app.get(&format!("/accounts/{account}")).await.body["balance"],
        200
    );
    let history = app.get(&format!("/accounts/{account}/transactions")).await.body;
    assert_eq!(history["items"][1]["amount"], 700);
    assert_eq!(history["items"][1]["description"], "before the schema change");
}
