//! The overdraft fee policy (choreography): an account records `AccountOverdrawn` when a movement
//! takes its balance below zero, and the policy, reacting to that event, charges the fee once per
//! crossing: under client retries, a replayed log, two policies racing and two real processes.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use foldbank::app::App;
use foldbank::clock::{ManualClock, UuidV7};
use foldbank::command::Precondition;
use foldbank::domain::account::{AccountCommand, ChargeOverdraftFee};
use foldbank::domain::ids::{AccountId, TransactionId};

use crate::common::{Server, TestApp, TestDb, backend_tests, free_port, get_json};
use crate::leadership::wait_until_caught_up;

backend_tests!(
    a_withdrawal_below_zero_is_charged_the_fee_once_per_crossing,
    a_retried_withdrawal_is_charged_once,
    a_replayed_log_charges_no_fee_twice,
    two_policies_charging_the_same_crossing_at_once_charge_it_once,
    two_processes_sharing_the_log_charge_each_crossing_once,
);

const FEE: i64 = 500;

/// An EUR account with an overdraft fee of [`FEE`], holding `deposit` (0: nothing deposited).
async fn open_with_fee(app: &TestApp, deposit: i64) -> Uuid {
    let mut terms = json!({ "overdraft_limit": 10_000, "overdraft_fee": FEE });
    if deposit > 0 {
        terms["initial_deposit"] = json!(deposit);
    }
    app.open_account(terms).await
}

/// The types of the events `account`'s stream recorded, in order.
fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["type"].as_str().unwrap_or(""))
        .collect()
}

/// The fees `events` charged, as (cause, amount).
fn fees(events: &[Value]) -> Vec<(String, i64)> {
    events
        .iter()
        .filter(|event| event["type"] == "OverdraftFeeCharged")
        .map(|event| {
            (
                event["data"]["cause"].as_str().unwrap_or("").to_owned(),
                event["data"]["amount"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

async fn a_withdrawal_below_zero_is_charged_the_fee_once_per_crossing(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let account = open_with_fee(&app, 1_000).await;
    app.caught_up().await;
    let shown = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(shown.body["overdraft_fee"], FEE, "{}", shown.text);

    // The policy held back, so that its fee comes after these commands in the stream.
    app.stop_policies().await;
    let crossing = app.withdraw(account, 3_000).await;
    app.withdraw(account, 100).await; // already below zero: no new crossing
    app.deposit(account, 2_100).await; // back at zero, the fee still to be charged
    let closing = app.post(&format!("/accounts/{account}/close"), json!({})).await;
    closing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "overdraft-fees-due");
    app.start_policies();
    app.settled().await;
    let events = app.events(account).await;
    assert_eq!(
        types(&events),
        [
            "AccountOpened",
            "MoneyDeposited",
            "MoneyWithdrawn",
            "AccountOverdrawn",
            "MoneyWithdrawn",
            "MoneyDeposited",
            "OverdraftFeeCharged"
        ]
    );
    assert_eq!(
        fees(&events),
        [(crossing["transaction_id"].as_str().unwrap_or("").to_owned(), FEE)]
    );
    assert_eq!(balance(&app, account).await, -FEE);

    // Back above zero, then below again: a second crossing, a second fee.
    app.deposit(account, 5_000).await;
    let second = app.withdraw(account, 5_000).await;
    app.settled().await;
    let charged = fees(&app.events(account).await);
    assert_eq!(charged.len(), 2, "{charged:?}");
    assert_eq!(charged[1].0, second["transaction_id"].as_str().unwrap_or(""));
    assert_eq!(balance(&app, account).await, -2 * FEE);

    // The fee is a movement of its own in the history, and the bank may waive it by reversal.
    let history = app.get(&format!("/accounts/{account}/transactions")).await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    let items: Vec<Value> = history.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["kind"] == "overdraft_fee")
        .cloned()
        .collect();
    assert_eq!(items.len(), 2, "{}", history.text);
    assert!(
        items.iter().all(|item| item["amount"] == -FEE),
        "{}",
        history.text
    );
    let fee_id = items[0]["transaction_id"].as_str().unwrap_or("").to_owned();
    let waived = app
        .post(
            &format!("/accounts/{account}/transactions/{fee_id}/reversal"),
            json!({}),
        )
        .await;
    assert_eq!(waived.status, StatusCode::CREATED, "{}", waived.text);
    app.settled().await;
    assert_eq!(balance(&app, account).await, -FEE);
}

/// The account's balance, read once every read model reflects the whole log.
async fn balance(app: &TestApp, account: Uuid) -> i64 {
    let head = app.caught_up().await;
    let response = app.get(&format!("/accounts/{account}?min_position={head}")).await;
    response.body["balance"].as_i64().expect("balance")
}

async fn a_retried_withdrawal_is_charged_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = open_with_fee(&app, 0).await;
    let key = Uuid::now_v7().to_string();
    for _ in 0..3 {
        let response = app
            .post_with(
                &format!("/accounts/{account}/withdrawals"),
                &[("idempotency-key", &key)],
                json!({ "amount": 700, "currency": "EUR" }),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
        app.settled().await;
    }
    let events = app.events(account).await;
    assert_eq!(
        types(&events),
        [
            "AccountOpened",
            "MoneyWithdrawn",
            "AccountOverdrawn",
            "OverdraftFeeCharged"
        ]
    );
}

/// Rewinds the policy's checkpoint to the start of the log: every `AccountOverdrawn` is
/// delivered again, as after a crash just before the checkpoint moved.
async fn a_replayed_log_charges_no_fee_twice(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let accounts = [open_with_fee(&app, 100).await, open_with_fee(&app, 0).await];
    for account in accounts {
        app.withdraw(account, 400).await;
    }
    let head = app.settled().await;

    app.stop_policies().await;
    let rewind = "UPDATE projection_checkpoints SET position = 0 WHERE name = 'overdraft_fee_policy'";
    foldbank::db::query(rewind)
        .execute(&app.db.database)
        .await
        .expect("rewind");
    app.start_policies();

    assert_eq!(app.settled().await, head, "the replay appended nothing");
    for account in accounts {
        assert_eq!(fees(&app.events(account).await).len(), 1);
    }
}

/// Two command handlers with their own caches and pools stand in for two processes whose
/// policies both deliver the same crossing (a standby that took over resends what the dead
/// leader sent). The append's expected version lets one charge; the other, decided again on
/// the new state, finds the fee charged.
async fn two_policies_charging_the_same_crossing_at_once_charge_it_once(db: TestDb) {
    let mut app = TestApp::new(db).await;
    app.stop_policies().await;
    let other_process = App::new(
        app.db.reconnect().await,
        Arc::new(ManualClock::new(crate::common::test_start())),
        Arc::new(UuidV7),
    )
    .with_master_key(crate::common::master_key());
    let mut crossings = Vec::new();
    for _ in 0..8 {
        let account = open_with_fee(&app, 0).await;
        let withdrawn = app.withdraw(account, 100).await;
        let cause: Uuid = withdrawn["transaction_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("transaction_id");
        crossings.push((account, cause));
    }

    let charge = |service: App, (account, cause): (Uuid, Uuid)| async move {
        service
            .http
            .commands
            .handle(AccountId(account), Precondition::None, None, |stamp| {
                AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee {
                    cause: TransactionId(cause),
                    transaction_id: stamp.transaction_id,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await
            .expect("the charge is decided")
            .events
            .len()
    };
    for crossing in &crossings {
        let (first, second) = tokio::join!(
            charge(app.service.clone(), *crossing),
            charge(other_process.clone(), *crossing)
        );
        assert_eq!(
            first + second,
            1,
            "one of the two charged, the other decided nothing"
        );
    }
    for (account, _) in crossings {
        assert_eq!(fees(&app.events(account).await).len(), 1);
        assert_eq!(app.balance_from_events(account).await, -100 - FEE);
    }
}

/// Two real `foldbank` processes on one database. Both take a first crossing on every account;
/// then the first, which leads every follower since it started first (see
/// `tests/it/leadership.rs`), is SIGKILLed while the second takes a second crossing on each
/// (no shutdown: its last charges may be written and its checkpoint not moved). The second
/// takes the policy over. Every crossing is charged exactly once.
async fn two_processes_sharing_the_log_charge_each_crossing_once(db: TestDb) {
    let first = Server::start(&db, free_port()).await;
    let second = Server::start(&db, free_port()).await;
    let client = reqwest::Client::new();
    let post = |server: &Server, path: String, body: Value| {
        let request = client.post(server.url(&path)).json(&body);
        async move {
            let response = request.send().await.expect("request");
            assert!(response.status().is_success(), "{path}: {}", response.status());
            response.json::<Value>().await.expect("json")
        }
    };
    let money = |amount: i64| json!({ "amount": amount, "currency": "EUR" });
    let mut accounts = Vec::new();
    for n in 0..12 {
        let server = if n % 2 == 0 { &first } else { &second };
        let opened = post(
            server,
            "/accounts".to_owned(),
            json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "overdraft_limit": 20_000, "overdraft_fee": FEE }),
        )
        .await;
        accounts.push(opened["account_id"].as_str().expect("id").to_owned());
    }
    // The first crossing, through both processes.
    let crossings = accounts.iter().enumerate().map(|(n, account)| {
        let server = if n % 2 == 0 { &first } else { &second };
        post(server, format!("/accounts/{account}/withdrawals"), money(300))
    });
    futures_util::future::join_all(crossings).await;
    // The second, through the second process, while the first is killed.
    let second_crossings = futures_util::future::join_all(accounts.iter().map(|account| {
        let (post, second, money) = (&post, &second, &money);
        async move {
            post(second, format!("/accounts/{account}/deposits"), money(10_000)).await;
            post(second, format!("/accounts/{account}/withdrawals"), money(10_000)).await;
        }
    }));
    tokio::join!(second_crossings, async move { first.kill() });
    wait_until_caught_up(&second).await;

    for account in &accounts {
        let events = get_json(
            &client,
            &second.url(&format!("/accounts/{account}/events?limit=100")),
        )
        .await;
        let events = events["events"].as_array().cloned().unwrap_or_default();
        let charged = fees(&events);
        assert_eq!(charged.len(), 2, "{account}: {charged:?}");
        assert_ne!(charged[0].0, charged[1].0, "one fee per crossing");
        let balance = get_json(&client, &second.url(&format!("/accounts/{account}"))).await;
        assert_eq!(balance["balance"], -300 + 10_000 - 10_000 - 2 * FEE, "{account}");
    }
    assert!(second.terminate().await);
}
