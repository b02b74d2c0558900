//! Poison events: one event no follower can handle does not stop the followers. It is parked,
//! shown by `GET /projections`, and an operator retries or skips it.

use axum::http::StatusCode;
use chrono::Utc;
use foldbank::follow::parking;
use foldbank::store::{Append, NewEvent};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(an_event_no_follower_can_handle_is_parked_and_the_followers_move_on);

/// The parked events `GET /projections` shows for `follower`.
async fn parked_by(app: &TestApp, follower: &str) -> Vec<Value> {
    let status = app.get("/projections").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text);
    status.body["projections"]
        .as_array()
        .and_then(|all| all.iter().find(|projection| projection["name"] == follower))
        .and_then(|projection| projection["parked"].as_array().cloned())
        .unwrap_or_default()
}

async fn an_event_no_follower_can_handle_is_parked_and_the_followers_move_on(db: TestDb) {
    let app = TestApp::new(db).await;
    let account = app.open_account_with(100).await;

    // A debit whose payload no code of this build can decode: every read model and the
    // transfer process manager fail on it, whatever they try.
    let poison = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "TransferDebited".into(),
        schema_version: 1,
        payload: json!({ "written_by": "a bug" }),
        metadata: json!({}),
        occurred_at: Utc::now(),
    };
    let poisoned = app
        .service
        .store
        .append(Append::new("account", Uuid::now_v7(), 0, vec![poison]))
        .await
        .expect("append");
    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 250, "currency": "EUR" }),
        )
        .await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);

    // Every follower gets past the poison event to the deposit behind it.
    app.settled().await;
    let read = app
        .get(&format!(
            "/accounts/{account}?min_position={}",
            deposit.body["position"]
        ))
        .await;
    assert_eq!(read.body["balance"], 350, "{}", read.text);
    for follower in foldbank::app::follower_names() {
        let parked = parked_by(&app, follower).await;
        assert_eq!(parked.len(), 1, "{follower} parked {parked:?}");
        assert_eq!(parked[0]["position"], poisoned.last_position);
        assert_eq!(parked[0]["type"], "TransferDebited");
        assert!(parked[0]["attempts"].as_i64() >= Some(5), "{parked:?}");
        assert!(
            parked[0]["error"]
                .as_str()
                .is_some_and(|error| error.contains("decoded")),
            "{parked:?}"
        );
    }

    // Skipped: gone from the list, and the read model stays as it is. A projection parks in
    // the read database, the transfer process manager beside the log.
    let database = &app.db.read;
    assert!(
        parking::skip(database, "account_balances", poisoned.last_position)
            .await
            .expect("skip")
    );
    assert!(parked_by(&app, "account_balances").await.is_empty());
    assert!(
        !parking::skip(database, "account_balances", poisoned.last_position)
            .await
            .expect("skip")
    );

    // Retried: the transfer process manager handles it again, fails again, and keeps it. (The
    // attempts are counted before the request: the running manager may take it at once.)
    let attempts = parked_by(&app, "transfer_process").await[0]["attempts"].as_i64();
    assert!(
        parking::request_retry(&app.db.database, "transfer_process", poisoned.last_position)
            .await
            .expect("retry")
    );
    let mut retried = Vec::new();
    for _ in 0..100 {
        retried = parked_by(&app, "transfer_process").await;
        if retried[0]["retry_requested"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        retried[0]["retry_requested"], false,
        "the running manager took the request"
    );
    assert_eq!(
        retried[0]["attempts"].as_i64(),
        attempts.map(|attempts| attempts + 1)
    );
}
