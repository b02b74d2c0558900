//! An id names one stream of one type, for good: an account's id is never a transfer's, and a
//! hostile choice of ids is a 4xx, never a 500 or money stuck in flight.

use axum::http::{Method, StatusCode};
use foldbank::auth::Role;
use foldbank::domain::ids::OwnerId;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, TestResponse, backend_tests};

backend_tests!(
    a_transfer_to_a_transfer_id_fails_with_a_refund_and_holds_up_no_other,
    a_transfer_whose_id_names_an_account_is_409_and_debits_nothing,
    opening_an_account_at_a_transfer_id_is_409,
    opening_at_a_used_id_answers_alike_whoever_owns_it,
    the_audit_trail_of_a_transfer_id_is_not_an_account,
);

async fn transfer(app: &TestApp, body: Value) -> TestResponse {
    app.post("/transfers", body).await
}

async fn balance(app: &TestApp, account: Uuid) -> i64 {
    let response = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.body["balance"].as_i64().expect("balance")
}

async fn transfer_view(app: &TestApp, transfer_id: &str) -> Value {
    let response = app.get(&format!("/transfers/{transfer_id}")).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    response.body
}

async fn a_transfer_to_a_transfer_id_fails_with_a_refund_and_holds_up_no_other(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(10_000).await,
        app.open_account(json!({})).await,
    );
    let first = transfer(
        &app,
        json!({ "from_account": alice, "to_account": bob, "amount": 100, "currency": "EUR" }),
    )
    .await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    let first_id = first.body["transfer_id"].as_str().expect("id").to_owned();
    app.settled().await;

    // The destination names a transfer's stream, not an account's.
    let hostile = transfer(
        &app,
        json!({ "from_account": alice, "to_account": first_id, "amount": 1, "currency": "EUR" }),
    )
    .await;
    assert_eq!(hostile.status, StatusCode::ACCEPTED, "{}", hostile.text);
    let after = transfer(
        &app,
        json!({ "from_account": alice, "to_account": bob, "amount": 200, "currency": "EUR" }),
    )
    .await;
    assert_eq!(after.status, StatusCode::ACCEPTED, "{}", after.text);
    app.settled().await;

    let hostile = transfer_view(&app, hostile.body["transfer_id"].as_str().expect("id")).await;
    assert_eq!(hostile["status"], "failed", "{hostile}");
    assert_eq!(hostile["reason"], "destination-not-found", "{hostile}");
    let after = transfer_view(&app, after.body["transfer_id"].as_str().expect("id")).await;
    assert_eq!(after["status"], "completed", "{after}");
    assert_eq!(
        balance(&app, alice).await,
        10_000 - 100 - 200,
        "the cent came back"
    );
    assert_eq!(balance(&app, bob).await, 300);
    let projections = app.get("/projections").await;
    let parked = projections.body["parked"].as_array().map_or(0, Vec::len);
    assert_eq!(parked, 0, "nothing parked: {}", projections.text);
    // The transfer's own stream was never written as an account's.
    let trail = app.get(&format!("/accounts/{first_id}/events")).await;
    trail.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
}

async fn a_transfer_whose_id_names_an_account_is_409_and_debits_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );

    let response = transfer(
        &app,
        json!({ "transfer_id": bob, "from_account": alice, "to_account": bob,
                "amount": 100, "currency": "EUR" }),
    )
    .await;
    response.assert_problem(StatusCode::CONFLICT, "id-in-use");
    assert_eq!(response.body["id"], bob.to_string());
    // The source's own id as the transfer's: refused alike.
    let own = transfer(
        &app,
        json!({ "transfer_id": alice, "from_account": alice, "to_account": bob,
                "amount": 100, "currency": "EUR" }),
    )
    .await;
    own.assert_problem(StatusCode::CONFLICT, "id-in-use");
    app.settled().await;
    assert_eq!(balance(&app, alice).await, 1_000);
    assert_eq!(
        app.events(alice).await.len(),
        2,
        "opened and deposited, nothing more"
    );
}

async fn opening_an_account_at_a_transfer_id_is_409(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    let accepted = transfer(
        &app,
        json!({ "from_account": alice, "to_account": bob, "amount": 100, "currency": "EUR" }),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let transfer_id = accepted.body["transfer_id"].as_str().expect("id").to_owned();

    let response = app
        .post(
            "/accounts",
            json!({ "account_id": transfer_id, "owner_id": Uuid::now_v7(), "currency": "EUR" }),
        )
        .await;
    response.assert_problem(StatusCode::CONFLICT, "id-in-use");
    app.settled().await;
    assert_eq!(transfer_view(&app, &transfer_id).await["status"], "completed");
}

async fn opening_at_a_used_id_answers_alike_whoever_owns_it(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let (owner, stranger) = (OwnerId(Uuid::now_v7()), OwnerId(Uuid::now_v7()));
    let (_, owner_key) = app.create_key(Role::Customer(owner)).await;
    let (_, stranger_key) = app.create_key(Role::Customer(stranger)).await;
    let account = Uuid::now_v7();
    let open_as = |key: String, owner: OwnerId, id: Uuid| {
        let app = &app;
        async move {
            let body = json!({ "account_id": id, "owner_id": owner.as_uuid(), "currency": "EUR" });
            app.send_as(Some(&key), Method::POST, "/accounts", Some(body))
                .await
        }
    };
    let opened = open_as(owner_key.clone(), owner, account).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);

    let again_by_owner = open_as(owner_key, owner, account).await;
    let by_stranger = open_as(stranger_key.clone(), stranger, account).await;
    let fresh = open_as(stranger_key, stranger, Uuid::now_v7()).await;

    again_by_owner.assert_problem(StatusCode::CONFLICT, "id-in-use");
    by_stranger.assert_problem(StatusCode::CONFLICT, "id-in-use");
    assert_eq!(
        again_by_owner.body, by_stranger.body,
        "the owner and a stranger get the very same answer"
    );
    assert_eq!(fresh.status, StatusCode::CREATED, "{}", fresh.text);
}

async fn the_audit_trail_of_a_transfer_id_is_not_an_account(db: TestDb) {
    let app = TestApp::new(db).await;
    let (alice, bob) = (
        app.open_account_with(1_000).await,
        app.open_account(json!({})).await,
    );
    let accepted = transfer(
        &app,
        json!({ "from_account": alice, "to_account": bob, "amount": 100, "currency": "EUR" }),
    )
    .await;
    let transfer_id = accepted.body["transfer_id"].as_str().expect("id").to_owned();
    app.settled().await;

    for path in [
        format!("/accounts/{transfer_id}"),
        format!("/accounts/{transfer_id}/events"),
        format!("/accounts/{transfer_id}/balance?at=2030-01-01T00:00:00Z"),
    ] {
        app.get(&path)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    }
    let deposit = app
        .post(
            &format!("/accounts/{transfer_id}/deposits"),
            json!({ "amount": 100, "currency": "EUR" }),
        )
        .await;
    deposit.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
}
