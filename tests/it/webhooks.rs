//! `/webhooks`: subscriptions to the integration events, made, listed, read and deleted by an
//! operator over HTTP; the secret shown once; URLs that would reach inside refused unless the
//! service allows private addresses; customers refused.

use axum::http::{Method, StatusCode};
use foldbank::auth::Role;
use foldbank::domain::ids::OwnerId;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Server, TestApp, TestDb, TestResponse, backend_tests, free_port};

backend_tests!(
    an_operator_subscribes_reads_lists_and_deletes_a_webhook,
    a_webhook_to_a_private_address_is_refused_unless_allowed,
    invalid_subscriptions_are_refused_field_by_field,
    customers_may_not_touch_webhooks,
    a_subscription_sent_again_with_its_idempotency_key_is_made_once,
    a_webhook_secret_is_stored_sealed_under_the_master_key,
);

async fn as_operator(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> TestResponse {
    app.send_as(Some(key), method, path, body).await
}

async fn an_operator_subscribes_reads_lists_and_deletes_a_webhook(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let (_, operator) = app.create_key(Role::Operator).await;
    // Something in the log already: the subscription starts after it.
    let opened = as_operator(
        &app,
        &operator,
        Method::POST,
        "/accounts",
        Some(json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": 10 })),
    )
    .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    let head = opened.body["position"].as_i64().expect("position");

    let created = as_operator(
        &app,
        &operator,
        Method::POST,
        "/webhooks",
        Some(json!({
            "url": "https://ledger.example.com/in",
            "event_types": ["money.withdrawn.v1", "money.deposited.v1", "money.deposited.v1"],
            "description": "the ledger",
        })),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["webhook_id"]
        .as_str()
        .expect("webhook_id")
        .to_owned();
    assert_eq!(
        created.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/webhooks/{id}").as_str())
    );
    let secret = created.body["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    // The reference library reads the secret as a key.
    assert!(standardwebhooks::Webhook::new(secret).is_ok());
    assert_eq!(created.body["url"], "https://ledger.example.com/in");
    assert_eq!(
        created.body["event_types"],
        json!(["money.deposited.v1", "money.withdrawn.v1"]),
        "deduplicated, in name order"
    );
    assert_eq!(created.body["starts_after"], head);

    let read = as_operator(&app, &operator, Method::GET, &format!("/webhooks/{id}"), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert!(
        read.body.get("secret").is_none(),
        "the secret is shown once: {}",
        read.text
    );
    let mut expected = created.body.clone();
    expected.as_object_mut().expect("object").remove("secret");
    assert_eq!(read.body, expected);

    let other = as_operator(
        &app,
        &operator,
        Method::POST,
        "/webhooks",
        Some(json!({ "url": "http://hooks.example.org/", "event_types": ["transfer.failed.v1"] })),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    assert_ne!(
        other.body["secret"], created.body["secret"],
        "each has its own secret"
    );
    let listed = as_operator(&app, &operator, Method::GET, "/webhooks", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let ids: Vec<&str> = listed.body["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .filter_map(|webhook| webhook["webhook_id"].as_str())
        .collect();
    assert_eq!(ids, [id.as_str(), other.body["webhook_id"].as_str().expect("id")]);
    assert!(!listed.text.contains("whsec_"), "{}", listed.text);

    let deleted = as_operator(&app, &operator, Method::DELETE, &format!("/webhooks/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let again = as_operator(&app, &operator, Method::DELETE, &format!("/webhooks/{id}"), None).await;
    again.assert_problem(StatusCode::NOT_FOUND, "webhook-not-found");
    let gone = as_operator(&app, &operator, Method::GET, &format!("/webhooks/{id}"), None).await;
    gone.assert_problem(StatusCode::NOT_FOUND, "webhook-not-found");
    assert_eq!(gone.body["webhook_id"], json!(id));
    let listed = as_operator(&app, &operator, Method::GET, "/webhooks", None).await;
    assert_eq!(listed.body["webhooks"].as_array().map(Vec::len), Some(1));
    let malformed = as_operator(&app, &operator, Method::GET, "/webhooks/not-a-uuid", None).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST, "{}", malformed.text);
}

async fn a_webhook_to_a_private_address_is_refused_unless_allowed(db: TestDb) {
    let app = TestApp::new(db).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.7/",
    ] {
        let refused = app
            .post(
                "/webhooks",
                json!({ "url": url, "event_types": ["account.opened.v1"] }),
            )
            .await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
        assert_eq!(refused.body["errors"][0]["name"], "url", "{}", refused.text);
        assert!(
            refused.text.contains("--webhook-allow-private"),
            "{}",
            refused.text
        );
    }
    let listed = app.get("/webhooks").await;
    assert_eq!(listed.body["webhooks"], json!([]), "nothing was stored");

    let service = app.service.clone().with_webhook_allow_private(true);
    let app = app.with_service(service);
    let allowed = app
        .post(
            "/webhooks",
            json!({ "url": "http://127.0.0.1:9/hook", "event_types": ["account.opened.v1"] }),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.text);
}

async fn invalid_subscriptions_are_refused_field_by_field(db: TestDb) {
    let app = TestApp::new(db).await;
    let refused = app
        .post(
            "/webhooks",
            json!({ "url": "ftp://example.com/", "event_types": ["money.stolen.v1"], "description": "x".repeat(501) }),
        )
        .await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    let names: Vec<&str> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|error| error["name"].as_str())
        .collect();
    assert_eq!(names, ["url", "event_types", "description"], "{}", refused.text);
    assert!(
        refused.text.contains("money.deposited.v1"),
        "the known types are named: {}",
        refused.text
    );

    for body in [
        json!({ "url": "https://example.com/", "event_types": [] }),
        json!({ "url": "https://user:pw@example.com/", "event_types": ["account.opened.v1"] }),
        json!({ "url": "not a url", "event_types": ["account.opened.v1"] }),
    ] {
        let refused = app.post("/webhooks", body.clone()).await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    }
    for body in [
        json!({ "url": "https://example.com/" }),
        json!({ "url": "https://example.com/", "event_types": ["account.opened.v1"], "secret": "mine" }),
        json!({ "url": 7, "event_types": ["account.opened.v1"] }),
    ] {
        let refused = app.post("/webhooks", body.clone()).await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "malformed-request");
    }
    let listed = app.get("/webhooks").await;
    assert_eq!(listed.body["webhooks"], json!([]), "nothing was stored");
}

async fn customers_may_not_touch_webhooks(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let (_, operator) = app.create_key(Role::Operator).await;
    let (_, customer) = app.create_key(Role::Customer(OwnerId(Uuid::now_v7()))).await;
    let body = json!({ "url": "https://example.com/", "event_types": ["account.opened.v1"] });
    let created = as_operator(&app, &operator, Method::POST, "/webhooks", Some(body.clone())).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["webhook_id"].as_str().expect("id");
    for (method, path, body) in [
        (Method::POST, "/webhooks".to_owned(), Some(body)),
        (Method::GET, "/webhooks".to_owned(), None),
        (Method::GET, format!("/webhooks/{id}"), None),
        (Method::GET, format!("/webhooks/{id}/parked"), None),
        (
            Method::POST,
            format!("/webhooks/{id}/parked/retry"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/webhooks/{id}"), None),
    ] {
        let refused = app.send_as(Some(&customer), method.clone(), &path, body).await;
        refused.assert_problem(StatusCode::FORBIDDEN, "forbidden");
        let anonymous = app.send_as(None, method, &path, None).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{}", anonymous.text);
    }
    let still = as_operator(&app, &operator, Method::GET, &format!("/webhooks/{id}"), None).await;
    assert_eq!(still.status, StatusCode::OK, "the customer deleted nothing");
}

/// A client that got no answer sends its subscription again with the same `Idempotency-Key`:
/// the same subscription is answered again (its secret too), marked `Idempotent-Replayed`, and
/// only one exists; the key with another request is refused.
async fn a_subscription_sent_again_with_its_idempotency_key_is_made_once(db: TestDb) {
    let app = TestApp::new(db).await;
    let body = json!({ "url": "https://ledger.example.com/in", "event_types": ["money.deposited.v1"] });
    let key = [("idempotency-key", "subscribe-ledger-1")];
    let first = app.post_with("/webhooks", &key, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = app.post_with("/webhooks", &key, body.clone()).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(again.body["webhook_id"], first.body["webhook_id"]);
    assert_eq!(again.body["secret"], first.body["secret"]);
    assert_eq!(again.headers.get("location"), first.headers.get("location"));
    let listed = app.get("/webhooks").await;
    assert_eq!(
        listed.body["webhooks"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );

    let other = json!({ "url": "https://ledger.example.com/other", "event_types": ["money.deposited.v1"] });
    let reused = app.post_with("/webhooks", &key, other).await;
    reused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused");
    // Without a key, the same request makes another subscription, as it says.
    let unkeyed = app.post("/webhooks", body).await;
    assert_eq!(unkeyed.status, StatusCode::CREATED, "{}", unkeyed.text);
    assert_ne!(unkeyed.body["webhook_id"], first.body["webhook_id"]);
    let listed = app.get("/webhooks").await;
    assert_eq!(
        listed.body["webhooks"].as_array().map(Vec::len),
        Some(2),
        "{}",
        listed.text
    );
}

/// The row's stored secret and the master key that wrapped it.
async fn stored_secret(app: &TestApp, webhook_id: &str) -> (String, Option<String>) {
    let row: (String, Option<String>) = foldbank::db::query(
        "SELECT secret, secret_master_key_id FROM webhook_subscriptions WHERE webhook_id = $1",
    )
    .bind(webhook_id.parse::<Uuid>().expect("uuid"))
    .fetch_one(&app.db.database)
    .await
    .expect("the subscription's row");
    row
}

/// The signing secret is sealed under the master key: the database alone (a backup, a stolen
/// disk) does not hold it. A subscription stored before secrets were sealed is sealed when the
/// service starts, and keeps its secret.
async fn a_webhook_secret_is_stored_sealed_under_the_master_key(db: TestDb) {
    let app = TestApp::new(db).await;
    let body = json!({ "url": "https://ledger.example.com/in", "event_types": ["money.deposited.v1"] });
    let created = app.post("/webhooks", body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let (id, secret) = (
        created.body["webhook_id"]
            .as_str()
            .expect("webhook_id")
            .to_owned(),
        created.body["secret"].as_str().expect("secret").to_owned(),
    );
    let (stored, master_key_id) = stored_secret(&app, &id).await;
    let key_bytes = secret.trim_start_matches("whsec_");
    assert!(!stored.contains(key_bytes), "the row holds the secret: {stored}");
    assert_eq!(master_key_id.as_deref(), Some(crate::common::master_key().id()));

    // A row as an older build wrote it: the secret as shown.
    let older = app.post("/webhooks", body).await;
    let older_id = older.body["webhook_id"].as_str().expect("webhook_id").to_owned();
    let older_secret = older.body["secret"].as_str().expect("secret").to_owned();
    foldbank::db::query(
        "UPDATE webhook_subscriptions SET secret = $2, secret_master_key_id = NULL WHERE webhook_id = $1",
    )
    .bind(older_id.parse::<Uuid>().expect("uuid"))
    .bind(older_secret.as_str())
    .execute(&app.db.database)
    .await
    .expect("store the secret as shown");

    let server = Server::start(&app.db, free_port()).await;
    assert!(server.terminate().await);
    let (stored, master_key_id) = stored_secret(&app, &older_id).await;
    assert_ne!(stored, older_secret, "sealed at start-up");
    assert_eq!(master_key_id.as_deref(), Some(crate::common::master_key().id()));
    let keys = foldbank::privacy::MasterKeys::new(std::sync::Arc::new(crate::common::master_key()), None);
    for (id, stored, master_key_id, shown) in [
        (
            &id,
            stored_secret(&app, &id).await.0,
            Some(crate::common::master_key().id().to_owned()),
            &secret,
        ),
        (&older_id, stored, master_key_id, &older_secret),
    ] {
        let opened = foldbank::integration::secrets::StoredSecret {
            secret: stored,
            master_key_id,
        }
        .open(&keys, id.parse().expect("uuid"))
        .expect("the secret opens with the master key");
        assert_eq!(&opened.expose(), shown);
    }
}
