//! The order of the HTTP layers and the limits on callers without a valid key: a flood of
//! made-up keys is shed, limited and finally refused without costing database work.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use foldbank::app::HttpSettings;
use foldbank::auth::Role;
use foldbank::http::RateLimit;
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, TestResponse, backend_tests};

backend_tests!(
    made_up_keys_are_limited_per_address_then_refused_before_any_lookup,
    requests_without_a_key_count_against_their_address,
    a_request_is_shed_before_its_key_is_looked_up,
);

/// A key of the right form that names no key of this service.
fn made_up_key() -> String {
    format!("fbk_{}_{}", Uuid::now_v7().simple(), "ab".repeat(32))
}

async fn get_with(app: &TestApp, path: &str, key: &str) -> TestResponse {
    let bearer = format!("Bearer {key}");
    app.send(Method::GET, path, &[("authorization", &bearer)], Body::empty())
        .await
}

fn strict(app: TestApp) -> TestApp {
    app.requiring_keys().with_http(HttpSettings {
        refused_rate_limit: RateLimit {
            per_second: 1,
            burst: 3,
        },
        ..HttpSettings::default()
    })
}

async fn made_up_keys_are_limited_per_address_then_refused_before_any_lookup(db: TestDb) {
    let app = TestApp::new(db).await;
    let (_, valid) = app.create_key(Role::Operator).await;
    let app = strict(app);
    // A valid key that checked out before the flood.
    assert_eq!(get_with(&app, "/accounts", &valid).await.status, StatusCode::OK);

    for _ in 0..3 {
        let refused = get_with(&app, "/accounts", &made_up_key()).await;
        refused.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    }
    let limited = get_with(&app, "/accounts", &made_up_key()).await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    assert!(limited.header("retry-after").is_some());
    // Keys from blocked addresses share one more bucket of lookups (here: three at once).
    for _ in 0..3 {
        get_with(&app, "/accounts", &made_up_key())
            .await
            .assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    }

    // With the database gone, a lookup would answer 503: the address is refused before any.
    app.service.database.close().await;
    let without_lookup = get_with(&app, "/accounts", &made_up_key()).await;
    without_lookup.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    // A key that checked out is still looked up (here: and finds the database gone).
    let valid_again = get_with(&app, "/accounts", &valid).await;
    valid_again.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "storage-unavailable");
}

async fn requests_without_a_key_count_against_their_address(db: TestDb) {
    let app = strict(TestApp::new(db).await);
    for _ in 0..3 {
        let refused = app.get("/accounts").await;
        refused.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    app.get("/accounts")
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    get_with(&app, "/accounts", &made_up_key())
        .await
        .assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
}

/// With one request allowed in flight and one held, a request with a key is shed (`503`)
/// before its key is looked up: it never gets as far as a `401`.
async fn a_request_is_shed_before_its_key_is_looked_up(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    app.caught_up().await;
    app.stop_projector().await;
    let unprojected = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;
    let position = unprojected.body["position"].as_i64().expect("position");
    let service = app.service.clone().with_read_wait(Duration::from_secs(2));
    let app = Arc::new(app.with_service(service).with_http(HttpSettings {
        max_requests_in_flight: 1,
        ..HttpSettings::default()
    }));
    let held = {
        let app = app.clone();
        tokio::spawn(async move {
            app.get(&format!("/accounts/{account}?min_position={position}"))
                .await
        })
    };

    let mut shed = None;
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let probe = get_with(&app, "/accounts", &made_up_key()).await;
        if probe.status == StatusCode::SERVICE_UNAVAILABLE {
            shed = Some(probe);
            break;
        }
        // Before the held request took the permit, the made-up key is looked up and refused.
        probe.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let shed = shed.expect("a request over the limit is shed");
    shed.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    held.await
        .expect("held request")
        .assert_problem(StatusCode::SERVICE_UNAVAILABLE, "projection-behind");
}

/// The deadline comes before authentication: a key lookup that hangs (the key table locked by
/// another session) is cut at the deadline like any other work. PostgreSQL only: SQLite's
/// readers never wait for a writer, so there is no way to make its lookup hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_lookup_that_hangs_is_cut_by_the_deadline() {
    use sqlx::Connection;

    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let app = TestApp::new(db).await.requiring_keys().with_http(HttpSettings {
        request_timeout: Duration::from_millis(300),
        ..HttpSettings::default()
    });
    let mut locker = sqlx::PgConnection::connect(&app.db.url()).await.expect("connect");
    sqlx::query("BEGIN").execute(&mut locker).await.expect("begin");
    sqlx::query("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await
        .expect("lock");

    let hung = get_with(&app, "/accounts", &made_up_key()).await;
    hung.assert_problem(StatusCode::REQUEST_TIMEOUT, "request-timeout");
    // A command cut before its handler ran wrote nothing: 408, not outcome-unknown.
    let bearer = format!("Bearer {}", made_up_key());
    let command = app
        .send(
            Method::POST,
            "/accounts",
            &[("authorization", &bearer), ("content-type", "application/json")],
            Body::from(json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" }).to_string()),
        )
        .await;
    command.assert_problem(StatusCode::REQUEST_TIMEOUT, "request-timeout");

    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("rollback");
    get_with(&app, "/accounts", &made_up_key())
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}
