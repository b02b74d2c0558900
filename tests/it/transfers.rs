//! Transfers between accounts (the process manager) and reversals, over HTTP.

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    a_transfer_debits_the_source_and_credits_the_destination,
    a_refused_destination_is_compensated_with_a_refund,
    a_frozen_destination_still_receives_transfers,
    transfers_the_source_refuses_are_answered_at_once_and_write_nothing,
    the_same_transfer_id_twice_moves_money_once,
    a_replayed_log_never_credits_or_refunds_twice,
    a_transfer_debited_before_a_crash_is_finished_after_restart,
    transfers_count_toward_the_daily_withdrawal_limit,
    a_transfer_refunded_the_same_day_gives_the_daily_limit_back,
    an_account_with_transfers_in_flight_cannot_close,
    a_deposit_can_be_reversed_for_thirty_days,
    reversals_obey_the_rules_of_the_account,
    a_refund_cannot_be_refused_however_full_the_source_became,
    one_transfer_id_sent_from_two_accounts_at_once_is_debited_once,
    two_managers_racing_on_the_same_transfers_never_credit_and_refund_one,
    the_settlement_recorded_first_wins_and_the_other_is_refused,
);

async fn transfer(app: &TestApp, from: Uuid, to: Uuid, amount: i64) -> crate::common::TestResponse {
    app.post(
        "/transfers",
        json!({ "from_account": from, "to_account": to, "amount": amount, "currency": "EUR" }),
    )
    .await
}

async fn transfer_status(app: &TestApp, transfer_id: &Value) -> Value {
    let id = transfer_id.as_str().expect("transfer id");
    let response = app.get(&format!("/transfers/{id}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.body
}

async fn balance(app: &TestApp, account: Uuid) -> i64 {
    app.get(&format!("/accounts/{account}")).await.body["balance"]
        .as_i64()
        .expect("balance")
}

async fn ledger(app: &TestApp) -> (i64, i64) {
    let summary = app.get("/ledger/summary").await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.text);
    let eur = &summary.body["currencies"][0];
    (
        eur["total"].as_i64().unwrap_or(0),
        eur["in_flight"].as_i64().unwrap_or(0),
    )
}

async fn a_transfer_debits_the_source_and_credits_the_destination(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );

    let accepted = app
        .post(
            "/transfers",
            json!({ "from_account": alice, "to_account": bob, "amount": 300, "currency": "EUR",
                    "description": "rent share" }),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let id = accepted.body["transfer_id"].clone();
    assert_eq!(
        accepted.header("location"),
        Some(format!("/transfers/{}", id.as_str().unwrap_or("")).as_str())
    );
    app.settled().await;

    let status = transfer_status(&app, &id).await;
    assert_eq!(status["status"], "completed");
    assert_eq!(status["amount"], 300);
    assert_eq!(status["description"], "rent share");
    assert!(status["credit_position"].as_i64() > status["debit_position"].as_i64());
    assert_eq!((balance(&app, alice).await, balance(&app, bob).await), (700, 300));
    assert_eq!(ledger(&app).await, (1_000, 0));

    let bobs = app.get(&format!("/accounts/{bob}/transactions")).await;
    let credit = &bobs.body["items"][0];
    assert_eq!(credit["kind"], "transfer_in");
    assert_eq!(credit["counterparty_account_id"], alice.to_string());
    assert_eq!(credit["transfer_id"], id);
    let alices = app.get(&format!("/accounts/{alice}/transactions")).await;
    assert_eq!(alices.body["items"][0]["kind"], "transfer_out");
    assert_eq!(alices.body["items"][0]["amount"], -300);
    let listed = app.get(&format!("/accounts/{bob}/transfers")).await;
    assert_eq!(listed.body["items"][0]["transfer_id"], id);
    let types: Vec<String> = app
        .events(alice)
        .await
        .iter()
        .filter_map(|e| e["type"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        types,
        [
            "AccountOpened",
            "MoneyDeposited",
            "TransferDebited",
            "TransferCompleted"
        ]
    );
}

async fn a_refused_destination_is_compensated_with_a_refund(db: TestDb) {
    let app = TestApp::new(db).await;
    let alice = app.open_account_with(1_000).await;
    let closed = app.open_account(json!({})).await;
    app.post(&format!("/accounts/{closed}/close"), json!({})).await;
    let dollars = app.open_account(json!({ "currency": "USD" })).await;

    let to_nobody = transfer(&app, alice, Uuid::now_v7(), 100).await;
    let to_closed = transfer(&app, alice, closed, 200).await;
    let to_dollars = transfer(&app, alice, dollars, 300).await;
    app.settled().await;

    for (response, reason) in [
        (&to_nobody, "destination-not-found"),
        (&to_closed, "destination-closed"),
        (&to_dollars, "currency-mismatch"),
    ] {
        assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.text);
        let status = transfer_status(&app, &response.body["transfer_id"]).await;
        assert_eq!(status["status"], "failed");
        assert_eq!(status["reason"], reason);
        assert!(status["refund_position"].is_i64());
    }
    assert_eq!(balance(&app, alice).await, 1_000);
    assert_eq!(ledger(&app).await, (1_000, 0));
    let kinds: Vec<String> = app.get(&format!("/accounts/{alice}/transactions")).await.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["kind"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(kinds.iter().filter(|k| *k == "transfer_refund").count(), 3);
}

async fn a_frozen_destination_still_receives_transfers(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(500).await,
        app.open_account(json!({})).await,
    );
    app.post(&format!("/accounts/{bob}/freeze"), json!({ "reason": "review" }))
        .await;

    let accepted = transfer(&app, alice, bob, 200).await;
    app.settled().await;

    assert_eq!(
        transfer_status(&app, &accepted.body["transfer_id"]).await["status"],
        "completed"
    );
    assert_eq!(balance(&app, bob).await, 200);
    // ...but a frozen source cannot send.
    transfer(&app, bob, alice, 50)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-frozen");
}

async fn transfers_the_source_refuses_are_answered_at_once_and_write_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(100).await,
        app.open_account(json!({})).await,
    );
    let head = app.service.store.head_position().await.expect("head");

    transfer(&app, alice, alice, 10)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "transfer-to-self");
    transfer(&app, alice, bob, 101)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    transfer(&app, Uuid::now_v7(), bob, 10)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    app.post(
        "/transfers",
        json!({ "from_account": alice, "to_account": bob, "amount": 10, "currency": "USD" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "currency-mismatch");
    app.post(
        "/transfers",
        json!({ "from_account": alice, "to_account": bob, "amount": 0, "currency": "EUR" }),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    app.get(&format!("/transfers/{}", Uuid::now_v7()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "transfer-not-found");

    assert_eq!(app.service.store.head_position().await.expect("head"), head);
}

async fn the_same_transfer_id_twice_moves_money_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    let request = json!({ "transfer_id": Uuid::now_v7(), "from_account": alice, "to_account": bob,
                          "amount": 250, "currency": "EUR" });

    let first = app.post("/transfers", request.clone()).await;
    let again = app.post("/transfers", request.clone()).await;
    app.settled().await;
    let after_settlement = app.post("/transfers", request.clone()).await;
    let mut changed = request.clone();
    changed["amount"] = json!(999);
    let reused = app.post("/transfers", changed).await;
    app.settled().await;

    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(after_settlement.status, StatusCode::ACCEPTED);
    reused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "transfer-id-reused");
    let mut from_bob = request.clone();
    from_bob["from_account"] = json!(bob);
    from_bob["to_account"] = json!(alice);
    app.post("/transfers", from_bob)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "transfer-id-reused");
    assert_eq!((balance(&app, alice).await, balance(&app, bob).await), (750, 250));
}

/// Rewinds the process manager's checkpoint to the start of the log: every `TransferDebited`
/// is delivered again, as after a crash just before the checkpoint moved.
async fn a_replayed_log_never_credits_or_refunds_twice(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    transfer(&app, alice, bob, 100).await;
    transfer(&app, alice, Uuid::now_v7(), 200).await;
    app.settled().await;
    assert_eq!(transfer(&app, bob, alice, 50).await.status, StatusCode::ACCEPTED);
    app.settled().await;
    let head = app.service.store.head_position().await.expect("head");

    app.stop_transfer_process().await;
    let rewind = "UPDATE projection_checkpoints SET position = 0 WHERE name = 'transfer_process'";
    foldbank::db::query(rewind)
        .execute(&app.db.database)
        .await
        .expect("rewind");
    app.start_transfer_process();
    app.settled().await;

    assert_eq!(
        app.service.store.head_position().await.expect("head"),
        head,
        "replay appended nothing"
    );
    assert_eq!((balance(&app, alice).await, balance(&app, bob).await), (950, 50));
    assert_eq!(ledger(&app).await, (1_000, 0));
}

async fn a_transfer_debited_before_a_crash_is_finished_after_restart(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    app.stop_transfer_process().await;

    let accepted = transfer(&app, alice, bob, 400).await;
    app.caught_up().await;
    let pending = transfer_status(&app, &accepted.body["transfer_id"]).await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(ledger(&app).await, (600, 400), "the money is in flight, not lost");

    app.start_transfer_process();
    app.settled().await;

    assert_eq!(
        transfer_status(&app, &accepted.body["transfer_id"]).await["status"],
        "completed"
    );
    assert_eq!(ledger(&app).await, (1_000, 0));
    assert_eq!(balance(&app, bob).await, 400);
}

async fn transfers_count_toward_the_daily_withdrawal_limit(db: TestDb) {
    let app = TestApp::new(db).await;
    let alice = app
        .open_account(json!({ "initial_deposit": 10_000, "daily_withdrawal_limit": 500 }))
        .await;
    let bob = app.open_account(json!({})).await;
    app.post(
        &format!("/accounts/{alice}/withdrawals"),
        json!({ "amount": 300, "currency": "EUR" }),
    )
    .await;

    transfer(&app, alice, bob, 201)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "daily-limit-exceeded");
    assert_eq!(transfer(&app, alice, bob, 200).await.status, StatusCode::ACCEPTED);
}

async fn a_transfer_refunded_the_same_day_gives_the_daily_limit_back(db: TestDb) {
    let app = TestApp::new(db).await;
    let alice = app
        .open_account(json!({ "initial_deposit": 10_000, "daily_withdrawal_limit": 500 }))
        .await;

    let to_nobody = transfer(&app, alice, Uuid::now_v7(), 500).await;
    assert_eq!(to_nobody.status, StatusCode::ACCEPTED, "{}", to_nobody.text);
    app.settled().await;
    let refunded = transfer_status(&app, &to_nobody.body["transfer_id"]).await;
    assert_eq!(refunded["status"], "failed");
    assert!(refunded["refund_position"].is_i64());

    let withdrawal = app
        .post(
            &format!("/accounts/{alice}/withdrawals"),
            json!({ "amount": 500, "currency": "EUR" }),
        )
        .await;
    assert_eq!(withdrawal.status, StatusCode::CREATED, "{}", withdrawal.text);
}

async fn an_account_with_transfers_in_flight_cannot_close(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let alice = app.open_account_with(100).await;
    app.stop_transfer_process().await;
    transfer(&app, alice, Uuid::now_v7(), 100).await;

    app.post(&format!("/accounts/{alice}/close"), json!({}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "transfers-pending");

    app.start_transfer_process();
    app.settled().await;
    app.post(
        &format!("/accounts/{alice}/withdrawals"),
        json!({ "amount": 100, "currency": "EUR" }),
    )
    .await;
    let close = app.post(&format!("/accounts/{alice}/close"), json!({})).await;
    assert_eq!(close.status, StatusCode::OK, "{}", close.text);
}

async fn deposit_id(app: &TestApp, account: Uuid, amount: i64) -> String {
    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": amount, "currency": "EUR" }),
        )
        .await;
    deposit.body["transaction_id"]
        .as_str()
        .expect("transaction id")
        .to_owned()
}

async fn a_deposit_can_be_reversed_for_thirty_days(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let early = deposit_id(&app, account, 100).await;
    let late = deposit_id(&app, account, 200).await;

    app.clock.advance(Duration::days(30) - Duration::minutes(1));
    let inside = app
        .post(
            &format!("/accounts/{account}/transactions/{early}/reversal"),
            json!({}),
        )
        .await;
    app.clock.advance(Duration::minutes(1) + Duration::seconds(1));
    let outside = app
        .post(
            &format!("/accounts/{account}/transactions/{late}/reversal"),
            json!({}),
        )
        .await;

    assert_eq!(inside.status, StatusCode::CREATED, "{}", inside.text);
    let reversal_id = inside.body["transaction_id"]
        .as_str()
        .expect("the reversal's id")
        .to_owned();
    assert_ne!(reversal_id, early, "a reversal has its own id");
    outside.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "reversal-window-closed");
    app.caught_up().await;
    assert_eq!(balance(&app, account).await, 200);
    let latest = &app
        .get(&format!("/accounts/{account}/transactions?limit=1"))
        .await
        .body["items"][0];
    assert_eq!(latest["kind"], "reversal");
    assert_eq!(latest["amount"], -100);
    assert_eq!(latest["reverses_transaction_id"], json!(early));
    assert_eq!(latest["transaction_id"], json!(reversal_id));
}

async fn reversals_obey_the_rules_of_the_account(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account(json!({})).await,
        app.open_account(json!({})).await,
    );
    let deposit = deposit_id(&app, alice, 500).await;
    let withdrawal = app
        .post(
            &format!("/accounts/{alice}/withdrawals"),
            json!({ "amount": 450, "currency": "EUR" }),
        )
        .await
        .body["transaction_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let reversal = |account: Uuid, id: String| {
        let app = &app;
        async move {
            app.post(
                &format!("/accounts/{account}/transactions/{id}/reversal"),
                json!({}),
            )
            .await
        }
    };

    // Undoing the deposit would leave -450: below the (zero) overdraft floor.
    reversal(alice, deposit.clone())
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    // Undoing the withdrawal credits 450, once.
    assert_eq!(
        reversal(alice, withdrawal.clone()).await.status,
        StatusCode::CREATED
    );
    reversal(alice, withdrawal.clone())
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "already-reversed");
    reversal(alice, Uuid::now_v7().to_string())
        .await
        .assert_problem(StatusCode::NOT_FOUND, "transaction-not-found");
    reversal(Uuid::now_v7(), deposit.clone())
        .await
        .assert_problem(StatusCode::NOT_FOUND, "account-not-found");

    transfer(&app, alice, bob, 100).await;
    app.settled().await;
    let leg = app.get(&format!("/accounts/{bob}/transactions")).await.body["items"][0]["transaction_id"]
        .as_str()
        .expect("leg id")
        .to_owned();
    reversal(bob, leg)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "transfer-not-reversible");

    app.post(&format!("/accounts/{alice}/freeze"), json!({ "reason": "audit" }))
        .await;
    reversal(alice, deposit)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-frozen");
}

/// Compensation is never refused. A transfer to a missing account waits for its refund while
/// the source is refilled as far as an account may hold (10^17 minor units: deposits beyond
/// are refused); the refund then still goes through, and later transfers settle as usual.
/// (Were the source allowed to fill up to `i64::MAX`, the refund would not fit, the transfer
/// manager would retry it forever, and every later transfer would wait behind it.)
async fn a_refund_cannot_be_refused_however_full_the_source_became(db: TestDb) {
    const MAX_DEPOSIT: i64 = 1_000_000_000_000_000;
    let mut app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    app.stop_transfer_process().await;
    let stranded = transfer(&app, alice, Uuid::now_v7(), 1_000).await;
    assert_eq!(stranded.status, StatusCode::ACCEPTED, "{}", stranded.text);

    for _ in 0..100 {
        let deposit = app
            .post(
                &format!("/accounts/{alice}/deposits"),
                json!({ "amount": MAX_DEPOSIT, "currency": "EUR" }),
            )
            .await;
        assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
    }
    app.post(
        &format!("/accounts/{alice}/deposits"),
        json!({ "amount": 1, "currency": "EUR" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "balance-overflow");

    app.start_transfer_process();
    app.settled().await;
    let refunded = transfer_status(&app, &stranded.body["transfer_id"]).await;
    assert_eq!(refunded["status"], "failed");
    assert_eq!(refunded["reason"], "destination-not-found");
    assert_eq!(balance(&app, alice).await, 100 * MAX_DEPOSIT + 1_000);

    let next = transfer(&app, alice, bob, 500).await;
    app.settled().await;
    assert_eq!(
        transfer_status(&app, &next.body["transfer_id"]).await["status"],
        "completed"
    );
}

/// The uniqueness of a transfer id is part of the write side: `TransferRequested` is recorded
/// on the transfer's own stream with the debit, at version 0. Two accounts sending under one
/// id at the same moment: one is debited, the other is refused, and `GET /transfers/{id}`
/// shows the one that was.
async fn one_transfer_id_sent_from_two_accounts_at_once_is_debited_once(db: TestDb) {
    let app = std::sync::Arc::new(TestApp::new(db).await);
    let (alice, bob, carol) = (
        app.open_account_with(10_000).await,
        app.open_account_with(10_000).await,
        app.open_account(json!({})).await,
    );
    let mut ids = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let id = Uuid::now_v7();
        ids.push(id);
        for from in [alice, bob] {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                let body = json!({ "transfer_id": id, "from_account": from, "to_account": carol,
                                   "amount": 10, "currency": "EUR" });
                (id, from, app.post("/transfers", body).await)
            }));
        }
    }
    let mut winners = std::collections::HashMap::new();
    for task in tasks {
        let (id, from, answer) = task.await.expect("task");
        match answer.status {
            StatusCode::ACCEPTED => assert!(winners.insert(id, from).is_none(), "{id} debited twice"),
            _ => answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "transfer-id-reused"),
        }
    }
    app.settled().await;

    assert_eq!(winners.len(), ids.len(), "every id was debited once");
    for id in &ids {
        let status = transfer_status(app.as_ref(), &json!(id)).await;
        assert_eq!(status["from_account"], json!(winners[id]));
        assert_eq!(status["status"], "completed");
    }
    let sent = |account| winners.values().filter(|from| **from == account).count() as i64 * 10;
    assert_eq!(balance(&app, alice).await, 10_000 - sent(alice));
    assert_eq!(balance(&app, bob).await, 10_000 - sent(bob));
    assert_eq!(balance(&app, carol).await, 200);
}

/// Runs the transfer process manager in this process without its leadership: several of them
/// then act on the same transfers at once, as two processes on one SQLite file do, or a
/// PostgreSQL leader that lost its lock in the middle of a settlement. It notes, under its
/// `name`, the position of every debit it handles; before its first debit it waits (a few
/// seconds at most) for the other managers to reach theirs, so that the race does not depend on
/// how the scheduler happens to start them.
#[derive(Debug)]
struct Unled {
    manager: std::sync::Arc<dyn foldbank::follow::Follower>,
    name: usize,
    handled: std::sync::Arc<std::sync::Mutex<Vec<(usize, i64)>>>,
    start_together: std::sync::Arc<tokio::sync::Barrier>,
    started: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl foldbank::follow::Follower for Unled {
    fn name(&self) -> &'static str {
        self.manager.name()
    }

    fn checkpoint_database(&self) -> &foldbank::db::Database {
        self.manager.checkpoint_database()
    }

    fn batch_size(&self) -> i64 {
        1
    }

    fn leadership_key(&self) -> Option<i64> {
        None
    }

    async fn handle(
        &self,
        batch: &[foldbank::store::RecordedEvent],
        checkpoint: foldbank::follow::CheckpointMove,
        fence: &mut foldbank::follow::Fence,
    ) -> Result<(), foldbank::follow::FollowError> {
        let debits: Vec<(usize, i64)> = batch
            .iter()
            .filter(|event| event.event_type == "TransferDebited")
            .map(|event| (self.name, event.global_position))
            .collect();
        if !debits.is_empty() && !self.started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let together = self.start_together.wait();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), together).await;
        }
        self.handled.lock().expect("notes").extend(debits);
        self.manager.handle(batch, checkpoint, fence).await
    }
}

/// Three managers in two "processes" (separate pools, caches and locks) settle the same
/// transfers at once, while the destinations of some of them are opened only now: one manager
/// may find a destination missing (and refund) while another finds it open (and credit). The
/// outcome recorded on the transfer's stream decides: every transfer is credited or refunded,
/// never both, and money is conserved.
async fn two_managers_racing_on_the_same_transfers_never_credit_and_refund_one(db: TestDb) {
    use foldbank::follow::{FollowContext, Following};

    let mut app = TestApp::new(db).await;
    app.stop_transfer_process().await;
    let other = foldbank::app::App::new(
        app.db.reconnect().await,
        std::sync::Arc::new(foldbank::clock::SystemClock),
        std::sync::Arc::new(foldbank::clock::UuidV7),
    )
    .with_master_key(crate::common::master_key());
    let alice = app.open_account_with(100_000).await;
    let late: Vec<Uuid> = (0..15).map(|_| Uuid::now_v7()).collect();
    let mut sent = Vec::new();
    for destination in &late {
        let answer = transfer(&app, alice, *destination, 100).await;
        assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.text);
        sent.push(answer.body["transfer_id"].clone());
    }

    let handled = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let start_together = std::sync::Arc::new(tokio::sync::Barrier::new(3));
    let managers: Vec<Following> = [&app.service, &app.service, &other]
        .into_iter()
        .enumerate()
        .map(|(name, service)| {
            let context = FollowContext {
                log_database: service.database.clone(),
                store: service.store.clone(),
                status: service.http.followers.clone(),
                settings: service.follow.clone(),
                metrics: service.http.metrics.clone(),
            };
            let manager = foldbank::process::TransferProcess::follower(
                service.database.clone(),
                service.http.commands.clone(),
            );
            Following::start(
                vec![std::sync::Arc::new(Unled {
                    manager,
                    name,
                    handled: handled.clone(),
                    start_together: start_together.clone(),
                    started: std::sync::atomic::AtomicBool::new(false),
                })],
                &context,
                &service.shutdown,
            )
        })
        .collect();
    for destination in late.iter().step_by(2) {
        app.post(
            "/accounts",
            json!({ "account_id": destination, "owner_id": Uuid::now_v7(), "currency": "EUR" }),
        )
        .await;
    }
    // Not a measure of speed: the racing managers must settle everything themselves.
    let mut pending = sent.len();
    for _ in 0..600 {
        app.caught_up().await;
        pending = 0;
        for id in &sent {
            if transfer_status(&app, id).await["status"] == "pending" {
                pending += 1;
            }
        }
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for manager in managers {
        manager.stop().await;
    }
    assert_eq!(pending, 0, "the racing managers settled every transfer");
    // The race happened: some debit was handled by more than one manager at once.
    let handled = handled.lock().expect("notes").clone();
    let mut by_debit: std::collections::HashMap<i64, std::collections::HashSet<usize>> =
        std::collections::HashMap::new();
    for (manager, position) in handled {
        by_debit.entry(position).or_default().insert(manager);
    }
    assert!(
        by_debit.values().any(|managers| managers.len() > 1),
        "no debit was handled by two managers: {by_debit:?}"
    );
    app.start_transfer_process();
    app.settled().await;

    let mut credited = 0;
    for (n, (id, destination)) in sent.iter().zip(&late).enumerate() {
        let status = transfer_status(&app, id).await;
        let credits = if n % 2 == 0 {
            let events = app.events(*destination).await;
            events
                .iter()
                .filter(|event| event["type"] == "TransferCredited")
                .count()
        } else {
            0
        };
        match status["status"].as_str() {
            Some("completed") => {
                assert_eq!(credits, 1, "{status}");
                credited += 1;
            }
            Some("failed") => assert_eq!(credits, 0, "refunded and credited: {status}"),
            other => panic!("unsettled: {other:?}"),
        }
    }
    let opened_late: i64 = late.iter().step_by(2).count() as i64;
    assert!(credited <= opened_late);
    let mut total = balance(&app, alice).await;
    for destination in late.iter().step_by(2) {
        total += balance(&app, *destination).await;
    }
    assert_eq!(total, 100_000, "money is conserved");
    let summary = app.get("/ledger/summary?min_position=0").await.body;
    assert_eq!(summary["currencies"][0]["in_flight"], 0, "{summary}");
}

/// The interleaving a race can produce, step by step: one manager finds the destination missing
/// and decides to refund; meanwhile the destination is opened and another manager credits it
/// (recording `TransferSettled { credited }` with the credit). The first manager's refund then
/// meets the recorded outcome and is refused: it follows it instead of refunding money that
/// already arrived. And the other way round.
async fn the_settlement_recorded_first_wins_and_the_other_is_refused(db: TestDb) {
    use foldbank::command::{CommandError, CommandOptions, Companion, Stamp};
    use foldbank::domain::account::{AccountCommand, CreditTransfer, RefundReason, RefundTransfer};
    use foldbank::domain::ids::{AccountId, TransferId};
    use foldbank::domain::money::Amount;
    use foldbank::domain::transfer::{Outcome, TransferCommand, TransferDecider};

    let mut app = TestApp::new(db).await;
    app.stop_transfer_process().await;
    let commands = app.service.http.commands.clone();
    let settle = |transfer_id: TransferId, outcome: Outcome| CommandOptions {
        companion: Some(Companion::new::<TransferDecider, _>(
            transfer_id,
            move |stamp: &Stamp| TransferCommand::Settle {
                transfer_id,
                outcome,
                occurred_at: stamp.occurred_at,
            },
        )),
        ..CommandOptions::default()
    };
    let alice = AccountId(app.open_account_with(1_000).await);
    let refunded = Outcome::Refunded {
        reason: RefundReason::DestinationNotFound,
    };

    for credit_first in [true, false] {
        let destination = AccountId(Uuid::now_v7());
        let sent = transfer(&app, alice.as_uuid(), destination.as_uuid(), 100).await;
        let transfer_id = TransferId(
            sent.body["transfer_id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("id"),
        );
        app.post(
            "/accounts",
            json!({ "account_id": destination, "owner_id": Uuid::now_v7(), "currency": "EUR" }),
        )
        .await;
        let credit = || {
            commands.handle_with(
                destination,
                settle(transfer_id, Outcome::Credited),
                move |stamp| {
                    AccountCommand::CreditTransfer(CreditTransfer {
                        transfer_id,
                        transaction_id: stamp.transaction_id,
                        from_account: alice,
                        amount: Amount::new(100).expect("amount"),
                        currency: "EUR".parse().expect("EUR"),
                        description: None,
                        occurred_at: stamp.occurred_at,
                    })
                },
            )
        };
        let refund = || {
            commands.handle_with(alice, settle(transfer_id, refunded), move |stamp| {
                AccountCommand::RefundTransfer(RefundTransfer {
                    transfer_id,
                    transaction_id: stamp.transaction_id,
                    reason: RefundReason::DestinationNotFound,
                    occurred_at: stamp.occurred_at,
                })
            })
        };
        if credit_first {
            credit().await.expect("the first settlement is written");
            assert!(matches!(
                refund().await,
                Err(CommandError::TransferSettledOtherwise(Outcome::Credited))
            ));
            assert_eq!(
                app.balance_from_events(destination.as_uuid()).await,
                0,
                "deposits only"
            );
        } else {
            refund().await.expect("the first settlement is written");
            assert!(matches!(
                credit().await,
                Err(CommandError::TransferSettledOtherwise(Outcome::Refunded { .. }))
            ));
        }
        let credits = app
            .events(destination.as_uuid())
            .await
            .iter()
            .filter(|event| event["type"] == "TransferCredited")
            .count();
        let refunds = app
            .events(alice.as_uuid())
            .await
            .iter()
            .filter(|event| {
                event["type"] == "TransferRefunded" && event["data"]["transfer_id"] == json!(transfer_id)
            })
            .count();
        assert_eq!((credits, refunds), if credit_first { (1, 0) } else { (0, 1) });
    }
}
