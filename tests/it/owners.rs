//! `GET /owners/{owner_id}/summary`: one owner's accounts counted by status and their balances
//! summed by currency, for the owner's key and the bank's, never for another owner's.

use axum::http::{Method, StatusCode};
use foldbank::auth::Role;
use foldbank::domain::ids::OwnerId;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, TestResponse, backend_tests};

backend_tests!(
    an_owners_summary_counts_accounts_by_status_and_sums_balances_by_currency,
    a_customer_sees_its_own_summary_only,
);

/// Opens an account of `owner` in `currency` holding `balance` (0: no first deposit); answers its id and the
/// position of the opening.
async fn open(app: &TestApp, owner: Uuid, currency: &str, balance: i64) -> (Uuid, i64) {
    let mut terms = json!({ "owner_id": owner, "currency": currency });
    if balance > 0 {
        terms["initial_deposit"] = json!(balance);
    }
    let response = app.post("/accounts", terms).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    let id = response.body["account_id"]
        .as_str()
        .and_then(|id| id.parse().ok());
    let position = response.body["position"].as_i64();
    (id.expect("account_id"), position.expect("position"))
}

/// Posts a command to one of the account's endpoints and answers the position it reached.
async fn command(app: &TestApp, account: Uuid, action: &str, body: Value) -> i64 {
    let response = app.post(&format!("/accounts/{account}/{action}"), body).await;
    assert!(response.status.is_success(), "{action}: {}", response.text);
    response.body["position"].as_i64().expect("position")
}

async fn an_owners_summary_counts_accounts_by_status_and_sums_balances_by_currency(db: TestDb) {
    let app = TestApp::new(db).await;
    let (owner, neighbour) = (Uuid::now_v7(), Uuid::now_v7());
    let (spending, _) = open(&app, owner, "EUR", 1_000).await;
    let (savings, _) = open(&app, owner, "EUR", 250).await;
    let (travel, _) = open(&app, owner, "USD", 0).await;
    open(&app, neighbour, "EUR", 77).await;
    command(
        &app,
        spending,
        "withdrawals",
        json!({ "amount": 100, "currency": "EUR" }),
    )
    .await;
    command(&app, savings, "freeze", json!({ "reason": "card stolen" })).await;
    let last = command(&app, travel, "close", json!({})).await;

    let response = app
        .get(&format!("/owners/{owner}/summary?min_position={last}"))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    assert_eq!(response.body["owner_id"], json!(owner));
    assert_eq!(
        response.body["accounts"],
        json!({ "active": 1, "frozen": 1, "closed": 1 })
    );
    assert_eq!(
        response.body["balances"],
        json!([
            { "currency": "EUR", "accounts": 2, "balance": 1_150, "balance_exact": "1150" },
            { "currency": "USD", "accounts": 1, "balance": 0, "balance_exact": "0" },
        ])
    );
    let position = response.body["position"].as_i64().expect("position");
    assert!(position >= last, "read at {position}, before the close at {last}");
    assert_eq!(
        response.header("x-projection-position"),
        Some(position.to_string().as_str())
    );

    // Each owner's own accounts only; an owner with none is not found.
    let neighbours = app.get(&format!("/owners/{neighbour}/summary")).await;
    assert_eq!(
        neighbours.body["balances"][0]["balance"], 77,
        "{}",
        neighbours.text
    );
    let nobody = app.get(&format!("/owners/{}/summary", Uuid::now_v7())).await;
    nobody.assert_problem(StatusCode::NOT_FOUND, "owner-not-found");
}

/// `GET /owners/{of}/summary` with `key`.
async fn summary(app: &TestApp, key: &str, of: Uuid) -> TestResponse {
    app.send_as(Some(key), Method::GET, &format!("/owners/{of}/summary"), None)
        .await
}

async fn a_customer_sees_its_own_summary_only(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
    let (_, operator) = app.create_key(Role::Operator).await;
    let (_, owners_key) = app.create_key(Role::Customer(OwnerId(owner))).await;
    let open_as = |owner: Uuid| {
        app.send_as(
            Some(&operator),
            Method::POST,
            "/accounts",
            Some(json!({ "owner_id": owner, "currency": "EUR", "initial_deposit": 10 })),
        )
    };
    for owner in [owner, other] {
        assert_eq!(open_as(owner).await.status, StatusCode::CREATED);
    }
    app.caught_up().await;

    let own = summary(&app, &owners_key, owner).await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(own.body["accounts"]["active"], 1);
    // Another owner's summary is answered as that of an owner without accounts.
    let others = summary(&app, &owners_key, other).await;
    others.assert_problem(StatusCode::NOT_FOUND, "owner-not-found");
    let nobodys = summary(&app, &owners_key, Uuid::now_v7()).await;
    nobodys.assert_problem(StatusCode::NOT_FOUND, "owner-not-found");
    assert_eq!(others.body["title"], nobodys.body["title"]);
    // The bank sees every owner's.
    let by_the_bank = summary(&app, &operator, other).await;
    assert_eq!(by_the_bank.status, StatusCode::OK, "{}", by_the_bank.text);
    assert_eq!(by_the_bank.body["balances"][0]["balance"], 10);
}
