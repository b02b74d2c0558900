//! `GET /ledger/summary`: running totals per currency (the `ledger_totals` read model) that
//! equal the sum of the balances, whatever their size.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use foldbank::clock::Clock;
use foldbank::domain::account::AccountEvent;
use foldbank::domain::ids::TransactionId;
use foldbank::domain::money::{Amount, MAX_AMOUNT_MINOR_UNITS};
use foldbank::store::{Append, NewEvent, codec};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};
use crate::read_models::{account_terms, play, samples, step};

backend_tests!(
    the_summary_equals_the_sum_of_the_balances_after_random_histories,
    totals_beyond_i64_are_answered_exactly,
);

/// Per currency, the sum of every account's balance, read from `GET /accounts`.
async fn sum_of_balances(app: &TestApp) -> BTreeMap<String, i128> {
    let page = app.get("/accounts?limit=500").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.body["next_cursor"].is_null(), "one page holds every account");
    let mut sums = BTreeMap::new();
    for account in page.body["items"].as_array().into_iter().flatten() {
        let currency = account["currency"].as_str().expect("currency").to_owned();
        *sums.entry(currency).or_insert(0) += i128::from(account["balance"].as_i64().expect("balance"));
    }
    sums
}

/// Per currency, `(total, in_flight)` from the summary, read from the exact fields (and
/// checked against the integer ones).
async fn summary(app: &TestApp) -> BTreeMap<String, (i128, i128)> {
    let response = app.get("/ledger/summary").await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        response.header("x-projection-position"),
        Some(response.body["position"].to_string().as_str())
    );
    let mut totals = BTreeMap::new();
    for row in response.body["currencies"].as_array().into_iter().flatten() {
        let exact = |field: &str| -> i128 {
            row[format!("{field}_exact")]
                .as_str()
                .and_then(|text| text.parse().ok())
                .expect("an exact decimal string")
        };
        let (total, in_flight) = (exact("total"), exact("in_flight"));
        assert_eq!(row["total"], json!(i64::try_from(total).ok()), "{row}");
        assert_eq!(row["in_flight"], json!(i64::try_from(in_flight).ok()), "{row}");
        let currency = row["currency"].as_str().expect("currency").to_owned();
        totals.insert(currency, (total, in_flight));
    }
    totals
}

async fn transfer(app: &TestApp, from: Uuid, to: Uuid, amount: i64, currency: &str) -> StatusCode {
    let response = app
        .post(
            "/transfers",
            json!({ "from_account": from, "to_account": to, "amount": amount, "currency": currency }),
        )
        .await;
    assert!(
        matches!(
            response.status,
            StatusCode::ACCEPTED | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{}",
        response.text
    );
    response.status
}

async fn the_summary_equals_the_sum_of_the_balances_after_random_histories(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let mut accounts = Vec::new();
    for steps in samples(proptest::collection::vec(step(), 20..50), 3) {
        accounts.extend(play(&app, &steps, &account_terms()).await);
    }
    let dollars = app
        .open_account(json!({ "currency": "USD", "initial_deposit": 9_000 }))
        .await;
    accounts.push(dollars);
    // Transfers between random accounts, some to nowhere and some across currencies (both
    // refunded), some refused at the source.
    let count = accounts.len();
    for (from, to, amount) in samples((0..count, 0..count + 2, 1..3_000_i64), 40) {
        let to = accounts.get(to).copied().unwrap_or_else(Uuid::now_v7);
        let currency = if accounts[from] == dollars { "USD" } else { "EUR" };
        if accounts[from] != to {
            transfer(&app, accounts[from], to, amount, currency).await;
        }
    }
    app.settled().await;

    let balances = sum_of_balances(&app).await;
    let totals = summary(&app).await;
    assert_eq!(
        totals.keys().collect::<Vec<_>>(),
        ["EUR", "USD"],
        "one row per currency"
    );
    for (currency, (total, in_flight)) in &totals {
        assert_eq!(Some(total), balances.get(currency), "total of {currency}");
        assert_eq!(*in_flight, 0, "every transfer settled");
    }

    // A transfer the process manager has not credited yet is in flight, not lost.
    app.stop_transfer_process().await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    assert_eq!(transfer(&app, alice, bob, 400, "EUR").await, StatusCode::ACCEPTED);
    app.caught_up().await;
    let (total, in_flight) = summary(&app).await["EUR"];
    assert_eq!(Some(&total), sum_of_balances(&app).await.get("EUR"));
    assert_eq!(in_flight, 400);
    assert_eq!(total + in_flight, totals["EUR"].0 + 1_000);

    app.start_transfer_process();
    app.settled().await;
    assert_eq!(summary(&app).await["EUR"], (totals["EUR"].0 + 1_000, 0));
}

/// Appends `count` deposits of the largest amount a command may move straight to the log, in
/// appends of 500 (over HTTP that would be one request each).
async fn deposit_the_maximum(app: &TestApp, account: Uuid, mut version: i64, count: i64) {
    let amount = Amount::new(MAX_AMOUNT_MINOR_UNITS).expect("the largest amount");
    let mut left = count;
    while left > 0 {
        let chunk = left.min(500);
        let events = (0..chunk)
            .map(|_| {
                let deposit = AccountEvent::MoneyDeposited {
                    transaction_id: TransactionId(Uuid::now_v7()),
                    amount,
                    currency: "EUR".parse().expect("EUR"),
                    description: None,
                    occurred_at: app.clock.now(),
                };
                let (event_type, payload) = codec::encode(&deposit).expect("encode");
                NewEvent {
                    event_id: Uuid::now_v7(),
                    schema_version: codec::current_schema_version(&event_type),
                    event_type,
                    payload,
                    metadata: json!({}),
                    occurred_at: app.clock.now(),
                }
            })
            .collect();
        app.service
            .store
            .append(Append::new("account", account, version, events))
            .await
            .expect("append");
        version += chunk;
        left -= chunk;
    }
}

/// Two balances of 4.7 * 10^18 each: either fits an `i64`, their sum (9.4 * 10^18) does not.
async fn totals_beyond_i64_are_answered_exactly(db: TestDb) {
    const DEPOSITS: i64 = 4_700;
    let app = TestApp::new(db).await;
    let accounts = [
        app.open_account(json!({})).await,
        app.open_account(json!({})).await,
    ];
    for account in accounts {
        deposit_the_maximum(&app, account, 1, DEPOSITS).await;
    }
    let head = app.caught_up().await;

    let balance = i128::from(DEPOSITS) * i128::from(MAX_AMOUNT_MINOR_UNITS);
    let expected = 2 * balance;
    assert!(expected > i128::from(i64::MAX));
    for account in accounts {
        let row = app.get(&format!("/accounts/{account}")).await;
        assert_eq!(row.body["balance"], json!(balance as i64), "{}", row.text);
    }

    let response = app.get(&format!("/ledger/summary?min_position={head}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(
        response.header("x-projection-position"),
        Some(head.to_string().as_str())
    );
    let eur = &response.body["currencies"][0];
    assert_eq!(eur["currency"], "EUR");
    assert_eq!(eur["total_exact"], expected.to_string());
    assert_eq!(eur["total"], Value::Null, "beyond i64: null, not a wrong number");
    assert_eq!(eur["in_flight"], 0);
    assert_eq!(eur["in_flight_exact"], "0");
    assert_eq!(sum_of_balances(&app).await["EUR"], expected);

    // The totals keep counting exactly from there.
    let withdrawal = app
        .post(
            &format!("/accounts/{}/withdrawals", accounts[0]),
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;
    let position = withdrawal.body["position"].as_i64().expect("position");
    let after = app.get(&format!("/ledger/summary?min_position={position}")).await;
    assert_eq!(
        after.body["currencies"][0]["total_exact"],
        (expected - 1).to_string()
    );
}
