//! Concurrent commands on one account: invariants hold, nobody sees a spurious 409.

use std::sync::Arc;

use axum::http::StatusCode;
use foldbank::app::App;
use foldbank::clock::{ManualClock, UuidV7};
use foldbank::command::Precondition;
use foldbank::domain::account::{AccountCommand, Deposit};
use foldbank::domain::ids::AccountId;
use foldbank::domain::money::Amount;
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    thirty_two_concurrent_withdrawals_of_100_from_1000_leave_exactly_zero,
    a_daily_limit_of_500_lets_exactly_five_concurrent_withdrawals_through,
    writers_in_two_processes_retry_conflicts_instead_of_failing,
    a_state_cached_before_another_process_wrote_never_refuses_what_the_log_allows,
);

/// Fires `count` withdrawals of `amount` at once and returns the statuses.
async fn concurrent_withdrawals(
    app: &Arc<TestApp>,
    account: Uuid,
    count: usize,
    amount: i64,
) -> Vec<StatusCode> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = app
                    .post(
                        &format!("/accounts/{account}/withdrawals"),
                        json!({ "amount": amount, "currency": "EUR" }),
                    )
                    .await;
                if response.status != StatusCode::CREATED {
                    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, response_slug(&response.body));
                }
                response.status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("request task"));
    }
    statuses
}

fn response_slug(body: &serde_json::Value) -> &str {
    body["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:foldbank:problem:"))
        .unwrap_or("?")
}

#[track_caller]
fn assert_contiguous_versions(events: &[serde_json::Value]) {
    let versions: Vec<i64> = events.iter().filter_map(|e| e["version"].as_i64()).collect();
    assert_eq!(versions, (1..=events.len() as i64).collect::<Vec<_>>());
}

async fn thirty_two_concurrent_withdrawals_of_100_from_1000_leave_exactly_zero(db: TestDb) {
    let app = Arc::new(TestApp::new(db).await);
    let account = app.open_account_with(1_000).await;

    let statuses = concurrent_withdrawals(&app, account, 32, 100).await;

    let succeeded = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((succeeded, refused), (10, 22));
    assert_eq!(app.balance_from_events(account).await, 0);
    let events = app.events(account).await;
    assert_eq!(events.len(), 2 + 10);
    assert_contiguous_versions(&events);
}

async fn a_daily_limit_of_500_lets_exactly_five_concurrent_withdrawals_through(db: TestDb) {
    let app = Arc::new(TestApp::new(db).await);
    let account = app
        .open_account(json!({ "initial_deposit": 1_000, "daily_withdrawal_limit": 500 }))
        .await;

    let statuses = concurrent_withdrawals(&app, account, 32, 100).await;

    let succeeded = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    assert_eq!(succeeded, 5);
    assert_eq!(app.balance_from_events(account).await, 500);
    assert_contiguous_versions(&app.events(account).await);
}

/// How many appends of `service` conflicted, as its metrics count them.
fn conflicts(service: &App) -> u64 {
    service
        .http
        .metrics
        .render(&[], &[], &[])
        .lines()
        .find_map(|line| line.strip_prefix("foldbank_append_conflicts_total "))
        .map_or(0, |count| count.trim().parse().expect("a count"))
}

/// One deposit of 1 on `account` by `service`.
async fn deposit_one(service: &App, account: AccountId) {
    service
        .http
        .commands
        .handle(account, Precondition::None, None, |stamp| {
            AccountCommand::Deposit(Deposit {
                transaction_id: stamp.transaction_id,
                amount: Amount::new(1).expect("valid amount"),
                currency: "EUR".parse().expect("EUR"),
                description: None,
                occurred_at: stamp.occurred_at,
            })
        })
        .await
        .expect("deposit succeeds despite the concurrent writer");
}

/// Two command handlers with separate locks, caches and pools stand in for two service
/// processes on the same database. An append decided on a state the other moved past
/// conflicts; it is decided again on fresh state and succeeds.
async fn writers_in_two_processes_retry_conflicts_instead_of_failing(db: TestDb) {
    const DEPOSITS_PER_PROCESS: usize = 10;
    let app = TestApp::new(db).await;
    let account = AccountId(app.open_account(json!({})).await);
    let other_process = App::new(
        app.db.reconnect().await,
        Arc::new(ManualClock::new(crate::common::test_start())),
        Arc::new(UuidV7),
    )
    .with_master_key(crate::common::master_key());

    // Step by step first: this process caches the account, the other moves it on, and this
    // process's next deposit, decided on the cached state, must conflict and be decided again.
    deposit_one(&app.service, account).await;
    deposit_one(&other_process, account).await;
    assert_eq!(conflicts(&app.service), 0);
    deposit_one(&app.service, account).await;
    assert_eq!(
        conflicts(&app.service),
        1,
        "the append decided on the cached state conflicted"
    );

    // Then at once, racing.
    let run = |state: App| async move {
        for _ in 0..DEPOSITS_PER_PROCESS {
            deposit_one(&state, account).await;
        }
    };
    let first = tokio::spawn(run(app.service.clone()));
    let second = tokio::spawn(run(other_process));
    first.await.expect("first process");
    second.await.expect("second process");

    let events = app.events(account.as_uuid()).await;
    assert_eq!(events.len(), 1 + 3 + 2 * DEPOSITS_PER_PROCESS);
    assert_contiguous_versions(&events);
    assert_eq!(
        app.balance_from_events(account.as_uuid()).await,
        3 + 2 * DEPOSITS_PER_PROCESS as i64
    );
}

/// Each process caches the states it folded. Here this process last saw the account empty;
/// another process then deposits. A withdrawal here must see that deposit: decided on the
/// stale cached state it would be refused, so a refusal is decided again on fresh state.
async fn a_state_cached_before_another_process_wrote_never_refuses_what_the_log_allows(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let other_process = App::new(
        app.db.reconnect().await,
        Arc::new(ManualClock::new(crate::common::test_start())),
        Arc::new(UuidV7),
    )
    .with_master_key(crate::common::master_key());
    let path = format!("/accounts/{account}/withdrawals");
    let withdraw_here = || app.post(&path, json!({ "amount": 300, "currency": "EUR" }));
    withdraw_here()
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");

    other_process
        .http
        .commands
        .handle(AccountId(account), Precondition::None, None, |stamp| {
            AccountCommand::Deposit(Deposit {
                transaction_id: stamp.transaction_id,
                amount: Amount::new(500).expect("valid amount"),
                currency: "EUR".parse().expect("EUR"),
                description: None,
                occurred_at: stamp.occurred_at,
            })
        })
        .await
        .expect("the other process deposits");

    let withdrawn = withdraw_here().await;
    assert_eq!(withdrawn.status, StatusCode::CREATED, "{}", withdrawn.text);
    // And the next command here builds on the fresh state, not the stale one.
    let again = withdraw_here().await;
    again.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    assert_eq!(app.balance_from_events(account).await, 200);
}
