//! `Idempotency-Key`: a retried command is answered, never written twice; and a command whose
//! write may have committed is never answered with an invitation to retry blindly.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use foldbank::app::HttpSettings;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    a_command_sent_again_with_its_key_is_answered_the_same_and_written_once,
    every_command_endpoint_honours_the_key,
    a_key_reused_for_another_request_is_refused,
    concurrent_duplicates_are_written_once,
    refusals_are_not_recorded_so_a_retry_is_decided_again,
    a_malformed_key_is_a_400,
    recorded_responses_are_forgotten_after_their_retention,
    a_command_that_times_out_while_its_write_commits_is_outcome_unknown_and_a_keyed_retry_writes_nothing,
    a_command_whose_committer_died_with_it_in_hand_is_outcome_unknown_and_its_key_replays_it,
);

fn deposit(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "EUR" })
}

async fn deposits_of(app: &TestApp, account: Uuid) -> usize {
    app.events(account)
        .await
        .iter()
        .filter(|event| event["type"] == "MoneyDeposited")
        .count()
}

async fn a_command_sent_again_with_its_key_is_answered_the_same_and_written_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let path = format!("/accounts/{account}/deposits");
    let key = [("idempotency-key", "8e03978e-40d5-43e8-bc93-6894a57f9324")];

    let first = app.post_with(&path, &key, deposit(2_500)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = app.post_with(&path, &key, deposit(2_500)).await;

    assert_eq!(again.status, first.status);
    assert_eq!(
        again.body, first.body,
        "the very same answer, transaction id included"
    );
    assert_eq!(again.header("etag"), first.header("etag"));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(deposits_of(&app, account).await, 1);
    assert_eq!(app.balance_from_events(account).await, 2_500);
    // The quoted form of the draft names the same key.
    let quoted = [("idempotency-key", "\"8e03978e-40d5-43e8-bc93-6894a57f9324\"")];
    let third = app.post_with(&path, &quoted, deposit(2_500)).await;
    assert_eq!(third.body, first.body);
    assert_eq!(deposits_of(&app, account).await, 1);
}

/// Opening an account and sending a transfer generate their ids when the client gives none: a
/// retry must answer the first ids, not create a second account or transfer.
async fn every_command_endpoint_honours_the_key(db: TestDb) {
    let app = TestApp::new(db).await;
    let owner = Uuid::now_v7();
    let open = json!({ "owner_id": owner, "currency": "EUR", "initial_deposit": 1_000 });
    let key = |name: &'static str| [("idempotency-key", name)];

    let opened = app.post_with("/accounts", &key("open"), open.clone()).await;
    let reopened = app.post_with("/accounts", &key("open"), open).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    assert_eq!(reopened.body, opened.body);
    assert_eq!(reopened.header("location"), opened.header("location"));
    let listed = app
        .get(&format!("/accounts?owner_id={owner}&min_position=2"))
        .await;
    assert_eq!(
        listed.body["items"].as_array().map(Vec::len),
        Some(1),
        "one account opened"
    );
    let account = opened.body["account_id"].as_str().expect("id").to_owned();
    let other = app.open_account(json!({})).await;

    let transfer = json!({ "from_account": account, "to_account": other, "amount": 100, "currency": "EUR" });
    let sent = app
        .post_with("/transfers", &key("transfer"), transfer.clone())
        .await;
    let resent = app.post_with("/transfers", &key("transfer"), transfer).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    assert_eq!(resent.body, sent.body, "the same transfer id");
    assert_eq!(resent.header("location"), sent.header("location"));

    for (name, path, body) in [
        (
            "withdraw",
            format!("/accounts/{account}/withdrawals"),
            deposit(10),
        ),
        (
            "freeze",
            format!("/accounts/{account}/freeze"),
            json!({ "reason": "lost card" }),
        ),
        ("unfreeze", format!("/accounts/{account}/unfreeze"), json!({})),
    ] {
        let first = app.post_with(&path, &key(name), body.clone()).await;
        let again = app.post_with(&path, &key(name), body).await;
        assert!(first.status.is_success(), "{name}: {}", first.text);
        assert_eq!((again.status, &again.body), (first.status, &first.body), "{name}");
    }
    app.settled().await;
    let events = app.events(account.parse().expect("uuid")).await;
    let mut types: Vec<&str> = events.iter().filter_map(|event| event["type"].as_str()).collect();
    types.sort_unstable();
    let mut expected = [
        "AccountOpened",
        "MoneyDeposited",
        "TransferDebited",
        "TransferCompleted",
        "MoneyWithdrawn",
        "AccountFrozen",
        "AccountUnfrozen",
    ];
    expected.sort_unstable();
    assert_eq!(types, expected, "nothing twice");
}

async fn a_key_reused_for_another_request_is_refused(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let key = [("idempotency-key", "reused")];
    let path = format!("/accounts/{account}/deposits");
    app.post_with(&path, &key, deposit(100)).await;

    let other_amount = app.post_with(&path, &key, deposit(200)).await;
    other_amount.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    let other_account = app.open_account(json!({})).await;
    let other_path = app
        .post_with(&format!("/accounts/{other_account}/deposits"), &key, deposit(100))
        .await;
    other_path.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    assert_eq!(app.balance_from_events(account).await, 100);
    assert_eq!(app.balance_from_events(other_account).await, 0);
}

async fn concurrent_duplicates_are_written_once(db: TestDb) {
    let app = Arc::new(TestApp::new(db).await);
    let account = app.open_account(json!({})).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post_with(
                    &format!("/accounts/{account}/deposits"),
                    &[("idempotency-key", "once")],
                    deposit(700),
                )
                .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }

    assert!(answers.iter().all(|answer| answer.status == StatusCode::CREATED));
    assert!(answers.iter().all(|answer| answer.body == answers[0].body));
    assert_eq!(deposits_of(&app, account).await, 1);
    assert_eq!(app.balance_from_events(account).await, 700);
}

async fn refusals_are_not_recorded_so_a_retry_is_decided_again(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let key = [("idempotency-key", "after-payday")];
    let path = format!("/accounts/{account}/withdrawals");

    let refused = app.post_with(&path, &key, deposit(500)).await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    app.post(&format!("/accounts/{account}/deposits"), deposit(500))
        .await;
    let retried = app.post_with(&path, &key, deposit(500)).await;

    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text);
    assert_eq!(app.balance_from_events(account).await, 0);
}

async fn a_malformed_key_is_a_400(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let too_long = "k".repeat(256);
    for key in ["", "two words", too_long.as_str()] {
        let answer = app
            .post_with(
                &format!("/accounts/{account}/deposits"),
                &[("idempotency-key", key)],
                deposit(1),
            )
            .await;
        answer.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    }
    assert_eq!(deposits_of(&app, account).await, 0);
}

async fn recorded_responses_are_forgotten_after_their_retention(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let key = [("idempotency-key", "yesterday")];
    let path = format!("/accounts/{account}/deposits");
    app.post_with(&path, &key, deposit(1)).await;
    let store = app.service.store.clone();
    assert!(
        store
            .recorded_response("anonymous", "yesterday")
            .await
            .expect("read")
            .is_some()
    );

    let a_day_later = chrono::Utc::now() + chrono::TimeDelta::hours(25);
    assert_eq!(store.forget_responses(a_day_later).await.expect("forget"), 1);

    assert!(
        store
            .recorded_response("anonymous", "yesterday")
            .await
            .expect("read")
            .is_none()
    );
    let again = app.post_with(&path, &key, deposit(1)).await;
    assert_eq!(
        again.header("idempotent-replayed"),
        None,
        "a forgotten key is a new request"
    );
    assert_eq!(deposits_of(&app, account).await, 2);
}

/// The append is slower than the request's deadline: the client cannot be told the deposit
/// failed (it is about to commit), nor invited to retry blindly. It gets `outcome-unknown`;
/// sending the request again with the same key then answers the original response and writes
/// nothing more.
async fn a_command_that_times_out_while_its_write_commits_is_outcome_unknown_and_a_keyed_retry_writes_nothing(
    db: TestDb,
) {
    let mut app = TestApp::new(db).await;
    app.router = app.service.router(HttpSettings {
        request_timeout: Duration::from_millis(300),
        ..HttpSettings::default()
    });
    let account = app.open_account(json!({})).await;
    let path = format!("/accounts/{account}/deposits");
    let key = [("idempotency-key", "slow-disk")];

    app.service.store_faults.delay_commits(Duration::from_millis(900));
    let timed_out = app.post_with(&path, &key, deposit(4_200)).await;
    timed_out.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "outcome-unknown");
    assert_eq!(
        timed_out.header("retry-after"),
        None,
        "no invitation to retry blindly"
    );
    // Without a key the answer is the same: the client must look before it retries.
    let unkeyed = app.post(&path, deposit(1)).await;
    unkeyed.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "outcome-unknown");
    app.service.store_faults.delay_commits(Duration::ZERO);

    // The write did commit. The retry with the key learns its outcome without writing it again.
    let mut retried = app.post_with(&path, &key, deposit(4_200)).await;
    for _ in 0..50 {
        if retried.header("idempotent-replayed") == Some("true") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        retried = app.post_with(&path, &key, deposit(4_200)).await;
    }
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    let deposits: Vec<i64> = app
        .events(account)
        .await
        .iter()
        .filter(|event| event["type"] == "MoneyDeposited")
        .filter_map(|event| event["data"]["amount"].as_i64())
        .collect();
    assert_eq!(deposits.iter().filter(|amount| **amount == 4_200).count(), 1);
}

/// The committer task dies after writing a batch it never answered: the command may well be
/// in the log, so it is `outcome-unknown` (never "nothing was written, retry"), and the same
/// key then answers what was recorded.
async fn a_command_whose_committer_died_with_it_in_hand_is_outcome_unknown_and_its_key_replays_it(
    db: TestDb,
) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let path = format!("/accounts/{account}/deposits");
    let key = [("idempotency-key", "committer-died")];

    app.service.store_faults.abandon_next_batch();
    let abandoned = app.post_with(&path, &key, deposit(700)).await;
    abandoned.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "outcome-unknown");
    assert_eq!(
        abandoned.header("retry-after"),
        None,
        "no invitation to retry blindly"
    );

    let retried = app.post_with(&path, &key, deposit(700)).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text);
    assert_eq!(retried.header("idempotent-replayed"), Some("true"));
    assert_eq!(deposits_of(&app, account).await, 1);
    // With its committer gone this process writes nothing more, and says so as safe to retry.
    let refused = app.post(&path, deposit(1)).await;
    refused.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "storage-unavailable");
}
