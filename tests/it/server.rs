//! The service over a real TCP socket: bind port 0, talk HTTP, shut down gracefully.

use std::sync::Arc;

use foldbank::app::{self, App, HttpSettings};
use foldbank::clock::{SystemClock, UuidV7};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::common::{TestDb, backend_tests};

backend_tests!(the_service_answers_over_a_real_socket_and_shuts_down_gracefully);

async fn the_service_answers_over_a_real_socket_and_shuts_down_gracefully(db: TestDb) {
    let service = App::new(db.databases(), Arc::new(SystemClock), Arc::new(UuidV7))
        .with_master_key(crate::common::master_key());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let address = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app::serve(
        listener,
        service.router(HttpSettings::default()),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let base = format!("http://{address}");

    let opened = client
        .post(format!("{base}/accounts"))
        .json(&json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": 700 }))
        .send()
        .await
        .expect("request");
    assert_eq!(opened.status(), reqwest::StatusCode::CREATED);
    assert!(opened.headers().contains_key("x-request-id"));
    let location = opened.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let withdrawn = client
        .post(format!("{base}{location}/withdrawals"))
        .json(&json!({ "amount": 1000, "currency": "EUR" }))
        .send()
        .await
        .expect("request");
    assert_eq!(withdrawn.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(withdrawn.headers()["content-type"], "application/problem+json");
    let problem: Value = withdrawn.json().await.expect("problem body");
    assert_eq!(problem["type"], "urn:foldbank:problem:insufficient-funds");
    let spec = client
        .get(format!("{base}/api-docs/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(spec.status(), reqwest::StatusCode::OK);

    stop.send(()).expect("server still running");
    server.await.expect("server task").expect("graceful shutdown");
}
