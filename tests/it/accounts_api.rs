//! The account command endpoints, driven over HTTP through the real router.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    opening_an_account_answers_201_with_location_etag_and_position,
    an_opening_deposit_is_its_own_event,
    deposits_and_withdrawals_answer_201_with_a_transaction_id,
    freeze_unfreeze_and_close_answer_200,
    close_and_unfreeze_accept_an_empty_object_or_an_empty_json_body,
    the_audit_trail_shows_every_event_with_its_metadata,
    the_audit_trail_is_paged_oldest_first,
    a_client_supplied_request_id_becomes_the_correlation_id,
    if_match_with_the_current_version_succeeds,
    if_match_with_a_stale_version_answers_412_and_changes_nothing,
    malformed_if_match_answers_400,
    malformed_json_unknown_fields_and_wrong_types_answer_400,
    invalid_values_answer_400_listing_every_bad_field,
    a_body_that_is_not_json_answers_415,
    a_body_over_64_kib_answers_413,
    commands_on_an_unknown_account_answer_404,
    a_malformed_account_id_answers_400,
    unknown_routes_and_methods_answer_problems,
    broken_business_rules_answer_422_with_their_own_type,
    a_daily_limit_refuses_withdrawals_over_it_and_resets_the_next_day,
    an_account_opened_twice_is_refused,
    rejected_commands_write_nothing,
    whole_numbers_written_with_a_zero_fraction_are_accepted,
    a_null_body_and_an_empty_if_match_mean_nothing_was_sent,
    a_clock_that_steps_back_cannot_date_an_event_before_its_predecessor,
);

async fn opening_an_account_answers_201_with_location_etag_and_position(db: TestDb) {
    let app = TestApp::new(db).await;
    let account_id = Uuid::now_v7();

    let response = app
        .post(
            "/accounts",
            json!({ "account_id": account_id, "owner_id": Uuid::now_v7(), "currency": "EUR" }),
        )
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert_eq!(
        response.header("location"),
        Some(format!("/accounts/{account_id}").as_str())
    );
    assert_eq!(response.header("etag"), Some("\"1\""));
    assert_eq!(response.body["account_id"], account_id.to_string());
    assert_eq!(response.body["version"], 1);
    assert_eq!(response.body["position"], 1);
    assert!(response.body.get("transaction_id").is_none());
}

async fn an_opening_deposit_is_its_own_event(db: TestDb) {
    let app = TestApp::new(db).await;
    let response = app
        .post(
            "/accounts",
            json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": 2500 }),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert_eq!(response.body["version"], 2);
    assert_eq!(response.header("etag"), Some("\"2\""));
    let account_id: Uuid = response.body["account_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");

    let events = app.events(account_id).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["AccountOpened", "MoneyDeposited"]);
    assert_eq!(events[1]["data"]["amount"], 2500);
    assert_eq!(
        events[1]["data"]["transaction_id"],
        response.body["transaction_id"]
    );
}

async fn deposits_and_withdrawals_answer_201_with_a_transaction_id(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(1_000).await;

    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 500, "currency": "EUR", "description": "salary" }),
        )
        .await;
    let withdrawal = app
        .post(
            &format!("/accounts/{account}/withdrawals"),
            json!({ "amount": 300, "currency": "EUR" }),
        )
        .await;

    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
    assert_eq!(withdrawal.status, StatusCode::CREATED, "{}", withdrawal.text);
    assert_eq!(deposit.body["version"], 3);
    assert_eq!(withdrawal.body["version"], 4);
    assert_eq!(withdrawal.header("etag"), Some("\"4\""));
    assert!(withdrawal.body["position"].as_i64() > deposit.body["position"].as_i64());
    let deposit_id = deposit.body["transaction_id"].as_str().expect("transaction id");
    let withdrawal_id = withdrawal.body["transaction_id"]
        .as_str()
        .expect("transaction id");
    assert_ne!(deposit_id, withdrawal_id);
    let events = app.events(account).await;
    assert_eq!(events[2]["data"]["transaction_id"], deposit_id);
    assert_eq!(events[2]["data"]["description"], "salary");
    assert_eq!(events[3]["type"], "MoneyWithdrawn");
    assert_eq!(app.balance_from_events(account).await, 1_200);
}

async fn freeze_unfreeze_and_close_answer_200(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;

    let freeze = app
        .post(
            &format!("/accounts/{account}/freeze"),
            json!({ "reason": "card stolen" }),
        )
        .await;
    // A reason that is blank is refused, and nothing is written.
    app.post(
        &format!("/accounts/{account}/unfreeze"),
        json!({ "reason": "  " }),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    let unfreeze = app
        .post(
            &format!("/accounts/{account}/unfreeze"),
            json!({ "reason": "card found" }),
        )
        .await;
    let close = app.post(&format!("/accounts/{account}/close"), json!({})).await;

    for (response, version) in [(&freeze, 2), (&unfreeze, 3), (&close, 4)] {
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        assert_eq!(response.body["version"], version);
        assert_eq!(response.header("etag"), Some(format!("\"{version}\"").as_str()));
    }
    let events = app.events(account).await;
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "AccountOpened",
            "AccountFrozen",
            "AccountUnfrozen",
            "AccountClosed"
        ]
    );
    assert_eq!(events[1]["data"]["reason"], "card stolen");
    // Why it was lifted, opened for the reader like the freeze's reason; written at version 2.
    assert_eq!(events[2]["data"]["reason"], "card found");
    assert_eq!(events[2]["schema_version"], 2);
}

async fn close_and_unfreeze_accept_an_empty_object_or_an_empty_json_body(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    app.post(
        &format!("/accounts/{account}/freeze"),
        json!({ "reason": "check" }),
    )
    .await;

    // Without a media type (as a cross-site page may send it) nothing happens.
    let untyped = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/unfreeze"),
            &[],
            Body::empty(),
        )
        .await;
    untyped.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    let unfreeze = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/unfreeze"),
            &[("content-type", "application/json")],
            Body::empty(),
        )
        .await;
    let close = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/close"),
            &[("content-type", "application/json"), ("content-length", "0")],
            Body::empty(),
        )
        .await;
    let with_fields = app
        .post(&format!("/accounts/{account}/close"), json!({ "force": true }))
        .await;
    let an_array = app.post(&format!("/accounts/{account}/close"), json!([])).await;
    an_array.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");

    assert_eq!(unfreeze.status, StatusCode::OK, "{}", unfreeze.text);
    assert_eq!(close.status, StatusCode::OK, "{}", close.text);
    with_fields.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
}

async fn the_audit_trail_shows_every_event_with_its_metadata(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    app.clock.advance(Duration::minutes(5));
    app.post(
        &format!("/accounts/{account}/withdrawals"),
        json!({ "amount": 40, "currency": "EUR" }),
    )
    .await;

    let events = app.events(account).await;

    assert_eq!(events.len(), 3);
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event["version"], index as i64 + 1);
        let current = if event["type"] == "AccountOpened" { 1 } else { 2 };
        assert_eq!(event["schema_version"], current, "{event}");
        assert!(event["position"].as_i64().is_some_and(|p| p > 0));
        assert!(event["event_id"].is_string());
        assert!(event["recorded_at"].is_string());
        assert!(event["metadata"]["correlation_id"].is_string());
        assert!(event["metadata"]["causation_id"].is_string());
    }
    assert_eq!(events[0]["metadata"]["command"], "OpenAccount");
    assert_eq!(events[2]["metadata"]["command"], "Withdraw");
    assert_eq!(events[0]["occurred_at"], "2026-03-02T09:30:00Z");
    assert_eq!(events[2]["occurred_at"], "2026-03-02T09:35:00Z");
    assert_eq!(
        events[0]["metadata"]["causation_id"],
        events[1]["metadata"]["causation_id"]
    );
    assert_ne!(
        events[1]["metadata"]["causation_id"],
        events[2]["metadata"]["causation_id"]
    );
}

/// 60 events: a page holds 50 by default, `limit` asks for fewer, and `next_cursor` (the
/// version of the last event) leads through the rest, oldest first, without gaps or repeats.
async fn the_audit_trail_is_paged_oldest_first(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(1).await;
    for amount in 2..=59 {
        app.post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": amount, "currency": "EUR" }),
        )
        .await;
    }
    let versions = |page: &Value| -> Vec<i64> {
        page["events"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|event| event["version"].as_i64())
            .collect()
    };

    let first = app.get(&format!("/accounts/{account}/events")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(versions(&first.body), (1..=50).collect::<Vec<_>>());
    assert_eq!(first.body["next_cursor"], "50");
    let rest = app.get(&format!("/accounts/{account}/events?cursor=50")).await;
    assert_eq!(versions(&rest.body), (51..=60).collect::<Vec<_>>());
    assert_eq!(rest.body["next_cursor"], Value::Null);

    let mut paged = Vec::new();
    let mut path = format!("/accounts/{account}/events?limit=7");
    loop {
        let page = app.get(&path).await;
        assert!(versions(&page.body).len() <= 7, "{}", page.text);
        paged.extend(versions(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/accounts/{account}/events?limit=7&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(paged, (1..=60).collect::<Vec<_>>());

    let past_the_end = app.get(&format!("/accounts/{account}/events?cursor=60")).await;
    assert_eq!(past_the_end.status, StatusCode::OK, "{}", past_the_end.text);
    assert_eq!(past_the_end.body["events"], json!([]));
    assert_eq!(past_the_end.body["next_cursor"], Value::Null);
    app.get(&format!("/accounts/{}/events?cursor=5", Uuid::now_v7()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    for query in ["limit=0", "limit=501", "cursor=0", "cursor=abc"] {
        app.get(&format!("/accounts/{account}/events?{query}"))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    }
}

async fn a_client_supplied_request_id_becomes_the_correlation_id(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;

    let response = app
        .post_with(
            &format!("/accounts/{account}/deposits"),
            &[("x-request-id", "trace-me-42")],
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;
    let generated = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;

    assert_eq!(response.header("x-request-id"), Some("trace-me-42"));
    let generated_id = generated
        .header("x-request-id")
        .expect("a request id is generated");
    let events = app.events(account).await;
    assert_eq!(events[1]["metadata"]["correlation_id"], "trace-me-42");
    assert_eq!(events[2]["metadata"]["correlation_id"], generated_id);
}

async fn if_match_with_the_current_version_succeeds(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;

    let response = app
        .post_with(
            &format!("/accounts/{account}/withdrawals"),
            &[("if-match", "\"2\"")],
            json!({ "amount": 10, "currency": "EUR" }),
        )
        .await;
    let any = app
        .post_with(
            &format!("/accounts/{account}/withdrawals"),
            &[("if-match", "*")],
            json!({ "amount": 10, "currency": "EUR" }),
        )
        .await;

    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert_eq!(response.header("etag"), Some("\"3\""));
    assert_eq!(any.status, StatusCode::CREATED, "{}", any.text);
}

async fn if_match_with_a_stale_version_answers_412_and_changes_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;

    let response = app
        .post_with(
            &format!("/accounts/{account}/withdrawals"),
            &[("if-match", "\"1\"")],
            json!({ "amount": 10, "currency": "EUR" }),
        )
        .await;

    response.assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    assert_eq!(response.body["current_version"], 2);
    assert_eq!(response.body["required_version"], 1);
    assert_eq!(app.events(account).await.len(), 2);
    let unknown = app
        .post_with(
            &format!("/accounts/{}/withdrawals", Uuid::now_v7()),
            &[("if-match", "\"3\"")],
            json!({ "amount": 10, "currency": "EUR" }),
        )
        .await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
}

async fn malformed_if_match_answers_400(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    for value in ["2", "W/\"2\"", "\"two\"", "\"-1\"", "\"1\", \"2\""] {
        let response = app
            .post_with(
                &format!("/accounts/{account}/deposits"),
                &[("if-match", value)],
                json!({ "amount": 10, "currency": "EUR" }),
            )
            .await;
        response.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    }
}

async fn malformed_json_unknown_fields_and_wrong_types_answer_400(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let path = format!("/accounts/{account}/deposits");
    let json_header = [("content-type", "application/json")];

    let truncated = app
        .send(Method::POST, &path, &json_header, Body::from("{\"amount\": 1"))
        .await;
    let unknown_field = app
        .post(&path, json!({ "amount": 1, "currency": "EUR", "memo": "x" }))
        .await;
    let wrong_type = app.post(&path, json!({ "amount": "1", "currency": "EUR" })).await;
    let fractional = app.post(&path, json!({ "amount": 1.5, "currency": "EUR" })).await;
    let huge = app
        .send(
            Method::POST,
            &path,
            &json_header,
            Body::from("{\"amount\": 99999999999999999999999, \"currency\": \"EUR\"}"),
        )
        .await;
    let missing = app.post(&path, json!({ "currency": "EUR" })).await;
    let not_an_object = app.post(&path, json!([1, 2])).await;

    for response in [
        truncated,
        unknown_field,
        wrong_type,
        fractional,
        huge,
        missing,
        not_an_object,
    ] {
        response.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    }
}

async fn invalid_values_answer_400_listing_every_bad_field(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;

    let movement = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 0, "currency": "euro", "description": " " }),
        )
        .await;
    let open = app
        .post(
            "/accounts",
            json!({ "owner_id": Uuid::now_v7(), "currency": "XYZ", "overdraft_limit": -1,
                    "daily_withdrawal_limit": -5, "initial_deposit": -10 }),
        )
        .await;
    let too_much = app
        .post(
            &format!("/accounts/{account}/withdrawals"),
            json!({ "amount": 1_000_000_000_000_001_i64, "currency": "EUR" }),
        )
        .await;
    let freeze = app
        .post(&format!("/accounts/{account}/freeze"), json!({ "reason": "" }))
        .await;

    movement.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    assert_eq!(field_names(&movement.body), ["amount", "currency", "description"]);
    open.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    assert_eq!(
        field_names(&open.body),
        [
            "currency",
            "overdraft_limit",
            "daily_withdrawal_limit",
            "initial_deposit"
        ]
    );
    too_much.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    freeze.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    assert_eq!(app.events(account).await.len(), 1);
}

fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|error| error["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn a_body_that_is_not_json_answers_415(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;

    let text = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/deposits"),
            &[("content-type", "text/plain")],
            Body::from("{\"amount\": 1, \"currency\": \"EUR\"}"),
        )
        .await;
    let form = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/close"),
            &[("content-type", "application/x-www-form-urlencoded")],
            Body::from("a=b"),
        )
        .await;

    text.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
    form.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
}

async fn a_body_over_64_kib_answers_413(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    let body = json!({ "amount": 1, "currency": "EUR", "description": "x".repeat(70 * 1024) }).to_string();

    let declared = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/deposits"),
            &[
                ("content-type", "application/json"),
                ("content-length", &body.len().to_string()),
            ],
            Body::from(body.clone()),
        )
        .await;
    let streamed = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/deposits"),
            &[("content-type", "application/json")],
            Body::from_stream(futures_stream(body)),
        )
        .await;

    declared.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    streamed.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    assert_eq!(app.events(account).await.len(), 1);
}

/// A body without a `Content-Length`, delivered in chunks.
fn futures_stream(body: String) -> impl tokio_stream::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
        .into_bytes()
        .chunks(4096)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    tokio_stream::iter(chunks)
}

async fn commands_on_an_unknown_account_answer_404(db: TestDb) {
    let app = TestApp::new(db).await;
    let unknown = Uuid::now_v7();

    let responses = [
        app.post(
            &format!("/accounts/{unknown}/deposits"),
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await,
        app.post(
            &format!("/accounts/{unknown}/withdrawals"),
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await,
        app.post(&format!("/accounts/{unknown}/freeze"), json!({ "reason": "x" }))
            .await,
        app.post(&format!("/accounts/{unknown}/unfreeze"), json!({}))
            .await,
        app.post(&format!("/accounts/{unknown}/close"), json!({})).await,
        app.get(&format!("/accounts/{unknown}/events")).await,
    ];

    for response in responses {
        response.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
        assert_eq!(response.body["account_id"], unknown.to_string());
    }
}

async fn a_malformed_account_id_answers_400(db: TestDb) {
    let app = TestApp::new(db).await;
    let deposit = app
        .post(
            "/accounts/not-a-uuid/deposits",
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;
    let events = app.get("/accounts/12345/events").await;

    deposit.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    events.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
}

async fn unknown_routes_and_methods_answer_problems(db: TestDb) {
    let app = TestApp::new(db).await;
    let route = app.get("/no/such/route").await;
    let method = app.send(Method::DELETE, "/accounts", &[], Body::empty()).await;

    route.assert_problem(StatusCode::NOT_FOUND, "not-found");
    method.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert!(method.header("allow").is_some_and(|allow| allow.contains("POST")));
}

async fn broken_business_rules_answer_422_with_their_own_type(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app
        .open_account(json!({ "initial_deposit": 1_000, "overdraft_limit": 200 }))
        .await;
    let withdraw = |amount: i64, currency: &str| {
        let path = format!("/accounts/{account}/withdrawals");
        let body = json!({ "amount": amount, "currency": currency });
        let app = &app;
        async move { app.post(&path, body).await }
    };

    let overdrawn = withdraw(1_201, "EUR").await;
    overdrawn.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    assert_eq!(overdrawn.body["available"], 1_200);
    assert_eq!(overdrawn.body["requested"], 1_201);

    let wrong_currency = withdraw(1, "USD").await;
    wrong_currency.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "currency-mismatch");
    assert_eq!(wrong_currency.body["account_currency"], "EUR");

    let not_empty = app.post(&format!("/accounts/{account}/close"), json!({})).await;
    not_empty.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "non-zero-balance");
    assert_eq!(not_empty.body["balance"], 1_000);

    let not_frozen = app
        .post(&format!("/accounts/{account}/unfreeze"), json!({}))
        .await;
    not_frozen.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-not-frozen");

    app.post(
        &format!("/accounts/{account}/freeze"),
        json!({ "reason": "audit" }),
    )
    .await;
    withdraw(1, "EUR")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-frozen");
    app.post(
        &format!("/accounts/{account}/freeze"),
        json!({ "reason": "again" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-already-frozen");
    let deposit_while_frozen = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 5, "currency": "EUR" }),
        )
        .await;
    assert_eq!(
        deposit_while_frozen.status,
        StatusCode::CREATED,
        "frozen accounts accept deposits"
    );

    app.post(&format!("/accounts/{account}/unfreeze"), json!({}))
        .await;
    withdraw(1_005, "EUR").await;
    let closed = app.post(&format!("/accounts/{account}/close"), json!({})).await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    app.post(
        &format!("/accounts/{account}/deposits"),
        json!({ "amount": 5, "currency": "EUR" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "account-closed");
}

async fn a_daily_limit_refuses_withdrawals_over_it_and_resets_the_next_day(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app
        .open_account(json!({ "initial_deposit": 10_000, "daily_withdrawal_limit": 1_000 }))
        .await;
    let path = format!("/accounts/{account}/withdrawals");

    let first = app.post(&path, json!({ "amount": 600, "currency": "EUR" })).await;
    let over = app.post(&path, json!({ "amount": 401, "currency": "EUR" })).await;
    let exact = app.post(&path, json!({ "amount": 400, "currency": "EUR" })).await;
    app.clock.advance(Duration::days(1));
    let next_day = app
        .post(&path, json!({ "amount": 1_000, "currency": "EUR" }))
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    over.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "daily-limit-exceeded");
    assert_eq!(over.body["limit"], 1_000);
    assert_eq!(over.body["withdrawn_today"], 600);
    assert_eq!(exact.status, StatusCode::CREATED, "{}", exact.text);
    assert_eq!(next_day.status, StatusCode::CREATED, "{}", next_day.text);
}

async fn an_account_opened_twice_is_refused(db: TestDb) {
    let app = TestApp::new(db).await;
    let account_id = Uuid::now_v7();
    let body = json!({ "account_id": account_id, "owner_id": Uuid::now_v7(), "currency": "EUR" });

    let first = app.post("/accounts", body.clone()).await;
    let second = app.post("/accounts", body).await;

    assert_eq!(first.status, StatusCode::CREATED);
    second.assert_problem(StatusCode::CONFLICT, "id-in-use");
    assert_eq!(app.events(account_id).await.len(), 1);
}

async fn rejected_commands_write_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    let head_before = app.service.store.head_position().await.expect("head");

    app.post(
        &format!("/accounts/{account}/withdrawals"),
        json!({ "amount": 101, "currency": "EUR" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds");
    app.post(&format!("/accounts/{account}/close"), json!({}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "non-zero-balance");
    app.post(
        &format!("/accounts/{account}/deposits"),
        json!({ "amount": 5, "currency": "JPY" }),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "currency-mismatch");

    assert_eq!(
        app.service.store.head_position().await.expect("head"),
        head_before
    );
    assert_eq!(app.balance_from_events(account).await, 100);
}

async fn whole_numbers_written_with_a_zero_fraction_are_accepted(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app
        .open_account(json!({ "initial_deposit": 100.0, "overdraft_limit": 0.0 }))
        .await;

    let whole = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 25.0, "currency": "EUR" }),
        )
        .await;
    let fraction = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 25.5, "currency": "EUR" }),
        )
        .await;
    let inexact = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 1e17, "currency": "EUR" }),
        )
        .await;

    assert_eq!(whole.status, StatusCode::CREATED, "{}", whole.text);
    fraction.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    inexact.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    assert_eq!(app.balance_from_events(account).await, 125);
}

async fn a_null_body_and_an_empty_if_match_mean_nothing_was_sent(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account(json!({})).await;
    app.post(
        &format!("/accounts/{account}/freeze"),
        json!({ "reason": "check" }),
    )
    .await;

    let unfreeze = app
        .post_with(
            &format!("/accounts/{account}/unfreeze"),
            &[("if-match", "")],
            Value::Null,
        )
        .await;

    assert_eq!(unfreeze.status, StatusCode::OK, "{}", unfreeze.text);
}

async fn a_clock_that_steps_back_cannot_date_an_event_before_its_predecessor(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app
        .open_account(json!({ "initial_deposit": 1_000, "daily_withdrawal_limit": 300 }))
        .await;
    app.clock.advance(Duration::days(1));
    let first = app
        .post(
            &format!("/accounts/{account}/withdrawals"),
            json!({ "amount": 300, "currency": "EUR" }),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);

    // The clock jumps back a day: the next withdrawal is still dated no earlier than the last
    // event, so it counts against the same day's limit instead of slipping into yesterday.
    app.clock.advance(Duration::days(-1));
    let second = app
        .post(
            &format!("/accounts/{account}/withdrawals"),
            json!({ "amount": 300, "currency": "EUR" }),
        )
        .await;

    second.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "daily-limit-exceeded");
    let events = app.events(account).await;
    let times: Vec<&str> = events.iter().filter_map(|e| e["occurred_at"].as_str()).collect();
    assert!(times.windows(2).all(|pair| pair[0] <= pair[1]), "{times:?}");
}
