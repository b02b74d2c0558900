//! Local development mode stays local: only this machine's host names are served without a
//! key, a cross-site form cannot send a command, and the first key closes the mode in every
//! running instance.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use foldbank::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::common::{Server, TestApp, TestDb, backend_tests, free_port, run_foldbank};

backend_tests!(
    without_a_key_only_loopback_host_names_are_served,
    a_command_that_is_not_json_is_415_and_writes_nothing,
    the_first_key_closes_local_mode_in_every_running_instance,
);

async fn without_a_key_only_loopback_host_names_are_served(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    app.caught_up().await;
    let path = format!("/accounts/{account}");

    for host in [
        "localhost",
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "app.localhost",
    ] {
        let response = app
            .send(Method::GET, &path, &[("host", host)], Body::empty())
            .await;
        assert_eq!(response.status, StatusCode::OK, "Host: {host}: {}", response.text);
    }
    // A name rebound to 127.0.0.1 by a web page the developer visits.
    for host in [
        "attacker.example",
        "attacker.example:8080",
        "127.0.0.1.nip.io",
        "10.0.0.7",
    ] {
        let read = app
            .send(Method::GET, &path, &[("host", host)], Body::empty())
            .await;
        read.assert_problem(StatusCode::MISDIRECTED_REQUEST, "misdirected-request");
        let write = app
            .send(
                Method::POST,
                &format!("{path}/deposits"),
                &[("host", host), ("content-type", "application/json")],
                Body::from(json!({ "amount": 5, "currency": "EUR" }).to_string()),
            )
            .await;
        write.assert_problem(StatusCode::MISDIRECTED_REQUEST, "misdirected-request");
    }
    assert_eq!(app.balance_from_events(account).await, 100, "nothing was written");

    // With a key, the key is what counts: a server behind a proxy sees other host names.
    let (_, key) = app.create_key(Role::Operator).await;
    let bearer = format!("Bearer {key}");
    let keyed = app
        .send(
            Method::GET,
            &path,
            &[("host", "bank.example"), ("authorization", &bearer)],
            Body::empty(),
        )
        .await;
    assert_eq!(keyed.status, StatusCode::OK, "{}", keyed.text);
}

/// A page can make a browser send a cross-site `POST` with a form's media type, `text/plain` or
/// none, without asking the server first; never one with `application/json`.
async fn a_command_that_is_not_json_is_415_and_writes_nothing(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;
    let (_, key) = app.create_key(Role::Operator).await;
    let bearer = format!("Bearer {key}");
    refuse_forms(&app, account, None).await;
    // Keys mode refuses them alike.
    let app = app.requiring_keys();
    refuse_forms(&app, account, Some(&bearer)).await;

    let stream = app
        .service
        .store
        .read_stream("account", account, None)
        .await
        .expect("read");
    assert_eq!(stream.len(), 2, "opened and deposited, nothing more");
    // JSON with parameters is JSON.
    let deposit = app
        .send(
            Method::POST,
            &format!("/accounts/{account}/deposits"),
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("authorization", &bearer),
            ],
            Body::from(json!({ "amount": 5, "currency": "EUR" }).to_string()),
        )
        .await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
}

/// Sends every kind of form a page can post to three commands: each is `415`.
async fn refuse_forms(app: &TestApp, account: Uuid, authorization: Option<&str>) {
    let forms = [
        (Some("application/x-www-form-urlencoded"), "reason=x"),
        (Some("multipart/form-data; boundary=x"), "--x--"),
        (Some("text/plain"), "{}"),
        (None, ""),
    ];
    for (content_type, body) in forms {
        for command in ["close", "unfreeze", "freeze"] {
            let mut headers = Vec::new();
            headers.extend(content_type.map(|value| ("content-type", value)));
            headers.extend(authorization.map(|value| ("authorization", value)));
            let response = app
                .send(
                    Method::POST,
                    &format!("/accounts/{account}/{command}"),
                    &headers,
                    Body::from(body),
                )
                .await;
            response.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type");
        }
    }
}

/// Two real processes serve one database in local development mode; `foldbank keys create`
/// (a third process) closes it in both without a restart.
async fn the_first_key_closes_local_mode_in_every_running_instance(db: TestDb) {
    let servers = [
        Server::start(&db, free_port()).await,
        Server::start(&db, free_port()).await,
    ];
    let client = reqwest::Client::new();
    let keyless = |server: &Server| client.get(server.url("/accounts")).send();
    for server in &servers {
        let response = keyless(server).await.expect("request");
        assert_eq!(
            response.status(),
            reqwest::StatusCode::OK,
            "open before the first key"
        );
    }

    let created = run_foldbank(&db, &["keys", "create", "--operator", "--log", "warn"]).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8_lossy(&created.stdout).trim().to_owned();

    for server in &servers {
        // Not a measure of speed: a mode that never closes is the failure.
        let mut status = reqwest::StatusCode::OK;
        for _ in 0..300 {
            status = keyless(server).await.expect("request").status();
            if status == reqwest::StatusCode::UNAUTHORIZED {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            status,
            reqwest::StatusCode::UNAUTHORIZED,
            "closed without a restart"
        );
        let with_key = client
            .get(server.url("/accounts"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("request");
        assert_eq!(with_key.status(), reqwest::StatusCode::OK);
        let opened = client
            .post(server.url("/accounts"))
            .json(&json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" }))
            .send()
            .await
            .expect("request");
        assert_eq!(
            opened.status(),
            reqwest::StatusCode::UNAUTHORIZED,
            "no keyless command either"
        );
    }
}
