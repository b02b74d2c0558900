//! Poison events: one event no follower can handle does not stop the followers. It is parked,
//! shown by `GET /projections`, and an operator retries or skips it.

use axum::http::StatusCode;
use chrono::Utc;
use foldbank::follow::parking;
use foldbank::store::{Append, NewEvent};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests, run_foldbank};

backend_tests!(
    an_event_no_follower_can_handle_is_parked_and_the_followers_move_on,
    foldbank_parked_lists_skips_and_retries_from_the_command_line,
);

/// Appends an event no code of this build can decode (a debit every follower fails on) and
/// waits until every follower has parked it; answers its position.
async fn poison(app: &TestApp) -> i64 {
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
    app.settled().await;
    for follower in decoding_followers() {
        assert_eq!(parked_by(app, follower).await.len(), 1, "{follower} parked it");
    }
    poisoned.last_position
}

/// The followers that decode a `TransferDebited`: every one but the overdraft fee policy, which
/// reads only `AccountOverdrawn` and passes over other events by their type, undecoded.
fn decoding_followers() -> Vec<&'static str> {
    foldbank::app::follower_names()
        .into_iter()
        .filter(|follower| *follower != foldbank::policy::overdraft_fees::NAME)
        .collect()
}

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
    for follower in decoding_followers() {
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

/// `foldbank parked list`, `skip` and `retry`, as an operator runs them beside a running server.
async fn foldbank_parked_lists_skips_and_retries_from_the_command_line(db: TestDb) {
    let app = TestApp::new(db).await;
    app.open_account_with(100).await;
    let position = poison(&app).await;
    let run = |args: Vec<String>| {
        let app = &app;
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = run_foldbank(&app.db, &args).await;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (
                output.status.success(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                text,
            )
        }
    };
    let args = |words: &[&str]| words.iter().map(|word| (*word).to_owned()).collect::<Vec<_>>();
    let at = position.to_string();

    let (ok, listed, _) = run(args(&["parked", "list"])).await;
    assert!(ok, "{listed}");
    for follower in decoding_followers() {
        assert!(
            listed.contains(&format!("{follower} {position} TransferDebited")),
            "{follower} in {listed}"
        );
    }

    let (ok, _, said) = run(args(&["parked", "skip", "account_balances", &at])).await;
    assert!(ok, "{said}");
    assert!(parked_by(&app, "account_balances").await.is_empty());
    let (ok, _, said) = run(args(&["parked", "skip", "account_balances", &at])).await;
    assert!(!ok && said.contains("parked nothing"), "{said}");
    let (ok, _, said) = run(args(&["parked", "skip", "no_such_follower", &at])).await;
    assert!(!ok && said.contains("no follower named"), "{said}");

    // A process manager's parked event is retried by the running server.
    let (ok, _, said) = run(args(&["parked", "retry", "transfer_process", &at])).await;
    assert!(ok && said.contains("retry requested"), "{said}");
    let mut taken = false;
    for _ in 0..200 {
        let parked = parked_by(&app, "transfer_process").await;
        if parked
            .first()
            .is_some_and(|parked| parked["retry_requested"] == false)
        {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        taken,
        "the running manager took the retry (and parked the event again)"
    );

    // A projection's parked events are retried by a rebuild that folds them: this one still
    // cannot be folded by this build, so the rebuild stops, says what to do, and forgets nothing.
    let (ok, _, said) = run(args(&["parked", "retry", "ledger_totals", &at])).await;
    assert!(
        !ok && said.contains(&format!("foldbank parked skip ledger_totals {position}")),
        "{said}"
    );
    assert_eq!(parked_by(&app, "ledger_totals").await.len(), 1);

    // Skipped for good, an event is left out of every later rebuild and verify, as it was left
    // out of the live read model: the log keeps it, and still rebuilds.
    for follower in ["ledger_totals", "account_transactions", "transfers"] {
        let (ok, _, said) = run(args(&["parked", "skip", follower, &at])).await;
        assert!(ok, "{said}");
    }
    let (ok, _, said) = run(args(&["rebuild", "all"])).await;
    assert!(ok, "{said}");
    let (ok, report, _) = run(args(&["verify"])).await;
    assert!(ok, "{report}");
    let (_, listed, _) = run(args(&["parked", "list"])).await;
    assert!(!listed.contains("ledger_totals"), "{listed}");
    assert!(listed.contains("transfer_process"), "{listed}");

    // An event a projection parked that a later build can fold (here: the projector failed
    // on purpose while it arrived) is folded by `parked retry`, and no longer parked.
    let account = app.open_account_with(100).await;
    app.caught_up().await;
    app.service.faults.fail_batches_after(0);
    let deposit = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 7, "currency": "EUR" }),
        )
        .await;
    let parked_at = deposit.body["position"].as_i64().expect("position");
    let mut parked = Vec::new();
    for _ in 0..400 {
        parked = parked_by(&app, "account_balances").await;
        if parked.iter().any(|event| event["position"] == parked_at) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    app.service.faults.disarm();
    assert!(
        parked.iter().any(|event| event["position"] == parked_at),
        "{parked:?}"
    );
    let (ok, _, said) = run(args(&[
        "parked",
        "retry",
        "account_balances",
        &parked_at.to_string(),
    ]))
    .await;
    assert!(ok && said.contains("rebuilt from the log"), "{said}");
    assert!(parked_by(&app, "account_balances").await.is_empty());
    let balance = app.get(&format!("/accounts/{account}")).await;
    assert_eq!(balance.body["balance"], 107, "{}", balance.text);
}
