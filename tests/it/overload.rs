//! A bound on requests in flight: the one over it is answered `503 overloaded` at once,
//! instead of waiting in a queue that only grows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use foldbank::app::HttpSettings;
use serde_json::json;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(a_request_over_the_limit_in_flight_is_shed_with_503_and_retry_after);

/// With a limit of one, a query held in flight (waiting for a `min_position` the stopped
/// projector will not reach) makes the next request `503 overloaded`; once it has answered,
/// requests are served again.
async fn a_request_over_the_limit_in_flight_is_shed_with_503_and_retry_after(db: TestDb) {
    const HOLD: Duration = Duration::from_secs(2);
    let mut app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    app.caught_up().await;
    app.stop_projector().await;
    let unprojected = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 7, "currency": "EUR" }),
        )
        .await;
    let position = unprojected.body["position"].as_i64().expect("position");
    let service = app.service.clone().with_read_wait(HOLD);
    app = app.with_service(service);
    app.router = app.service.router(HttpSettings {
        max_requests_in_flight: 1,
        ..HttpSettings::default()
    });
    let app = Arc::new(app);

    let held = {
        let app = app.clone();
        tokio::spawn(async move {
            app.get(&format!("/accounts/{account}?min_position={position}"))
                .await
        })
    };
    // The held request takes the only permit as soon as its task runs, before any IO: give it
    // that moment with no probe in flight (a probe holding the permit would get it shed).
    let started = Instant::now();
    let shed = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!held.is_finished(), "the held request was answered at once");
        let probe = app.get(&format!("/accounts/{account}")).await;
        if probe.status == StatusCode::SERVICE_UNAVAILABLE {
            break probe;
        }
        assert_eq!(probe.status, StatusCode::OK, "{}", probe.text);
        assert!(started.elapsed() < HOLD, "the held request never took the permit");
    };
    shed.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert!(
        shed.header("x-request-id").is_some(),
        "shed requests are still traced"
    );
    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;
    deposit.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded");

    let held = held.await.expect("the held request");
    held.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "projection-behind");
    let recovered = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.text);
    assert_eq!(
        app.balance_from_events(account).await,
        107,
        "the shed deposit was not applied"
    );
}
