//! Webhook delivery, end to end: commands over HTTP, the outbox following the log, the sender
//! posting to a receiver on loopback that checks every signature with the Standard Webhooks
//! reference crate (code this project did not write) and records what it got.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use foldbank::follow::Following;
use foldbank::integration::delivery::DeliverySettings;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    every_event_arrives_signed_in_order_per_account_through_failures_and_downtime,
    a_receiver_that_always_fails_gets_its_messages_parked_while_another_receives_everything,
    a_receiver_that_never_answers_holds_up_no_other_subscription,
    a_replay_sends_the_log_again_parked_messages_and_history_included,
    every_message_is_delivered_when_the_sending_process_is_killed,
    a_replay_of_many_pages_keeps_log_order_per_account_while_commands_go_on,
);

/// What a receiver got: each request's `webhook-id`, body, and whether its signature verified.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    body: Value,
    verified: bool,
}

#[derive(Debug, Default)]
struct ReceiverState {
    secret: Option<String>,
    /// Requests to answer 500 before answering 204 (`usize::MAX`: always).
    failures_left: usize,
    received: Vec<Received>,
}

/// An HTTP receiver on loopback; it can be stopped and started again on the same port.
#[derive(Debug, Clone)]
struct Receiver {
    port: u16,
    state: Arc<Mutex<ReceiverState>>,
    stop: Arc<Mutex<CancellationToken>>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let receiver = Receiver {
            port,
            state: Arc::new(Mutex::new(ReceiverState {
                failures_left: failures,
                ..ReceiverState::default()
            })),
            stop: Arc::new(Mutex::new(CancellationToken::new())),
        };
        receiver.serve(listener);
        receiver
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks", self.port)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let state = self.state.clone();
        let stop = self.stop.lock().expect("stop").clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move { receive(&state, &headers, &body) }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
                .expect("serve");
        });
    }

    /// Down: connections are refused until [`Receiver::up`].
    fn down(&self) {
        let mut stop = self.stop.lock().expect("stop");
        stop.cancel();
        *stop = CancellationToken::new();
    }

    async fn up(&self) {
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.serve(listener);
    }

    /// Answers 204 from now on.
    fn heal(&self) {
        self.state.lock().expect("state").failures_left = 0;
    }

    fn set_secret(&self, secret: &str) {
        self.state.lock().expect("state").secret = Some(secret.to_owned());
    }

    fn received(&self) -> Vec<Received> {
        self.state.lock().expect("state").received.clone()
    }

    /// The distinct `webhook-id`s received so far.
    fn ids(&self) -> BTreeSet<String> {
        self.received().into_iter().map(|received| received.id).collect()
    }
}

fn receive(state: &Mutex<ReceiverState>, headers: &HeaderMap, body: &[u8]) -> StatusCode {
    let mut state = state.lock().expect("state");
    let verified = state.secret.as_deref().is_some_and(|secret| {
        standardwebhooks::Webhook::new(secret)
            .and_then(|webhook| webhook.verify(body, headers))
            .is_ok()
    });
    let id = headers
        .get("webhook-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    state.received.push(Received {
        id,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
        verified,
    });
    if state.failures_left > 0 {
        state.failures_left = state.failures_left.saturating_sub(1);
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

/// Asserts that the first arrival of each message (by `webhook-id`) came in log order for its
/// account; answers the last position received of each account.
#[track_caller]
fn assert_in_log_order_per_account(received: &[Received]) -> BTreeMap<String, i64> {
    let mut last: BTreeMap<String, i64> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for r in received {
        if seen.insert(r.id.as_str()) {
            let account = r.body["data"]["account_id"].as_str().expect("account").to_owned();
            let position = r.body["data"]["position"].as_i64().expect("position");
            let previous = last.insert(account, position).unwrap_or(0);
            assert!(
                previous < position,
                "in log order per account: {previous} then {position}"
            );
        }
    }
    last
}

/// Retries quickly, so that a test waits for milliseconds, not minutes.
fn quick(max_attempts: u32) -> DeliverySettings {
    DeliverySettings {
        every: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(5),
        max_attempts,
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        allow_private: true,
        replay_page: 1000,
    }
}

async fn subscribe(app: &TestApp, receiver: &Receiver, types: &[&str]) -> (String, i64) {
    let created = app
        .post(
            "/webhooks",
            json!({ "url": receiver.url(), "event_types": types }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let secret = created.body["secret"].as_str().expect("secret");
    receiver.set_secret(secret);
    let starts_after = created.body["starts_after"].as_i64().expect("starts_after");
    (
        created.body["webhook_id"].as_str().expect("id").to_owned(),
        starts_after,
    )
}

async fn open(app: &TestApp) -> Uuid {
    let opened = app
        .post(
            "/accounts",
            json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" }),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    opened.body["account_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("account_id")
}

async fn deposit(app: &TestApp, account: Uuid, amount: i64) {
    let deposited = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": amount, "currency": "EUR", "description": "salary of Alice Smith" }),
        )
        .await;
    assert_eq!(deposited.status, StatusCode::CREATED, "{}", deposited.text);
}

/// The ids of the events after `after` of the given domain types, from the feed.
async fn events_of(app: &TestApp, after: i64, types: &[&str]) -> BTreeSet<String> {
    let page = app.get(&format!("/events?after={after}&limit=500")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    page.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| types.iter().any(|t| event["type"] == *t))
        .filter_map(|event| event["event_id"].as_str().map(str::to_owned))
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// Opens two accounts and deposits on each three times; waits until `receiver` has received
/// every deposit; answers their event ids.
async fn three_deposits_on_two_accounts_reach(
    app: &TestApp,
    receiver: &Receiver,
    starts_after: i64,
) -> BTreeSet<String> {
    let accounts = [open(app).await, open(app).await];
    for round in 1..=3 {
        for account in accounts {
            deposit(app, account, round).await;
        }
    }
    let expected = events_of(app, starts_after, &["MoneyDeposited"]).await;
    assert_eq!(expected.len(), 6);
    wait_for("the receiver got every deposit", || receiver.ids() == expected).await;
    expected
}

/// Stops the outbox and the sender (the sender first finishes the batches in flight).
async fn stop_webhooks(app: &TestApp, outbox: Following, sender: tokio::task::JoinHandle<()>) {
    app.service.shutdown.cancel();
    let _ = sender.await;
    outbox.stop().await;
}

async fn every_event_arrives_signed_in_order_per_account_through_failures_and_downtime(db: TestDb) {
    let app = TestApp::new(db).await;
    let service = app.service.clone().with_webhook_allow_private(true);
    let app = app.with_service(service);
    let before = open(&app).await;
    deposit(&app, before, 1).await;
    // The first five requests fail with 500.
    let receiver = Receiver::start(5).await;
    let (_, starts_after) = subscribe(
        &app,
        &receiver,
        &["account.opened.v1", "money.deposited.v1", "money.withdrawn.v1"],
    )
    .await;
    let (outbox, sender) = app.service.start_webhooks(quick(1000)).expect("webhooks");

    let accounts = [open(&app).await, open(&app).await, open(&app).await];
    for round in 1..=4 {
        for account in accounts {
            deposit(&app, account, round).await;
        }
    }
    // Down for a while, as commands go on; then back.
    receiver.down();
    for account in accounts {
        deposit(&app, account, 10).await;
        let withdrawn = app
            .post(
                &format!("/accounts/{account}/withdrawals"),
                json!({ "amount": 3, "currency": "EUR" }),
            )
            .await;
        assert_eq!(withdrawn.status, StatusCode::CREATED, "{}", withdrawn.text);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    receiver.up().await;

    let expected = events_of(
        &app,
        starts_after,
        &["AccountOpened", "MoneyDeposited", "MoneyWithdrawn"],
    )
    .await;
    assert_eq!(expected.len(), 3 + 12 + 6);
    wait_for("every event received", || receiver.ids() == expected).await;
    stop_webhooks(&app, outbox, sender).await;

    let received = receiver.received();
    assert!(received.iter().all(|r| r.verified), "every signature verifies");
    assert!(
        received.len() > expected.len(),
        "the failures were retried: {}",
        received.len()
    );
    // A duplicate is a retry of the same message: same id, same body.
    let mut bodies: BTreeMap<&str, &Value> = BTreeMap::new();
    for r in &received {
        let first = bodies.entry(r.id.as_str()).or_insert(&r.body);
        assert_eq!(*first, &r.body, "a retry carries the same body");
        assert_eq!(
            r.body["data"]["event_id"],
            json!(r.id),
            "webhook-id is the event's id"
        );
        assert!(
            !r.body.to_string().contains("Alice"),
            "no personal data: {}",
            r.body
        );
    }
    // Per account, first arrivals in log order.
    assert!(
        received
            .iter()
            .all(|r| r.body["data"]["position"].as_i64() > Some(starts_after)),
        "nothing from before the subscription"
    );
    let last = assert_in_log_order_per_account(&received);
    assert_eq!(
        last.len(),
        3,
        "the three accounts opened after it, not the one before"
    );
    assert!(!last.contains_key(&before.to_string()));
}

/// A receiver that always fails gets the first message of each account parked after 3
/// attempts (the later ones wait behind it, untried), listed at `/webhooks/{id}/parked`, while
/// another subscription receives everything. Once the receiver is healthy, a retry sends the
/// parked messages and the ones behind them, in order.
async fn a_receiver_that_always_fails_gets_its_messages_parked_while_another_receives_everything(db: TestDb) {
    let app = TestApp::new(db).await;
    let service = app.service.clone().with_webhook_allow_private(true);
    let app = app.with_service(service);
    let failing = Receiver::start(usize::MAX).await;
    let working = Receiver::start(0).await;
    let (failing_id, starts_after) = subscribe(&app, &failing, &["money.deposited.v1"]).await;
    subscribe(&app, &working, &["money.deposited.v1"]).await;
    let (outbox, sender) = app.service.start_webhooks(quick(3)).expect("webhooks");

    let expected = three_deposits_on_two_accounts_reach(&app, &working, starts_after).await;
    let parked_path = format!("/webhooks/{failing_id}/parked");
    let mut parked = Value::Null;
    for _ in 0..3000 {
        parked = app.get(&parked_path).await.body;
        if parked["parked"].as_array().map(Vec::len) == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let parked = parked["parked"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        parked.len(),
        2,
        "the first message of each account is parked: {parked:?}"
    );
    for message in &parked {
        assert_eq!(message["attempts"], 3, "{message}");
        assert_eq!(message["event_type"], "money.deposited.v1");
        assert!(
            message["last_error"]
                .as_str()
                .is_some_and(|error| error.contains("500")),
            "{message}"
        );
    }
    // Only the head of each account's line was tried, 3 times each; the rest wait behind it.
    assert_eq!(failing.received().len(), 2 * 3, "{:?}", failing.received());
    assert_eq!(failing.ids().len(), 2);

    failing.heal();
    let retried = app.post(&format!("{parked_path}/retry"), json!({})).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(retried.body["retried"], 2);
    wait_for("the healed receiver got everything", || failing.ids() == expected).await;
    let parked_now = app.get(&parked_path).await;
    assert_eq!(parked_now.body["parked"], json!([]), "{}", parked_now.text);
    let again = app.post(&format!("{parked_path}/retry"), json!({})).await;
    assert_eq!(again.body["retried"], 0, "nothing left to retry");
    stop_webhooks(&app, outbox, sender).await;

    assert_in_log_order_per_account(&failing.received());
    let unknown = app.get(&format!("/webhooks/{}/parked", Uuid::now_v7())).await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "webhook-not-found");
}

/// A receiver that accepts connections and never answers: its attempts wait out their
/// time-out (here a minute, longer than the test waits). Another subscription receives every
/// message meanwhile: a batch of the silent one is in flight, and rounds go on without it.
async fn a_receiver_that_never_answers_holds_up_no_other_subscription(db: TestDb) {
    let app = TestApp::new(db).await;
    let service = app.service.clone().with_webhook_allow_private(true);
    let app = app.with_service(service);
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent_url = format!("http://{}/hooks", silent.local_addr().expect("address"));
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            connections.push(connection);
        }
    });
    let created = app
        .post(
            "/webhooks",
            json!({ "url": silent_url, "event_types": ["money.deposited.v1"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let working = Receiver::start(0).await;
    let (_, starts_after) = subscribe(&app, &working, &["money.deposited.v1"]).await;
    let settings = DeliverySettings {
        attempt_timeout: Duration::from_secs(60),
        ..quick(1000)
    };
    let (outbox, sender) = app.service.start_webhooks(settings).expect("webhooks");

    three_deposits_on_two_accounts_reach(&app, &working, starts_after).await;
    held.abort();
    stop_webhooks(&app, outbox, sender).await;
}

/// The `webhook_id`'s state as `GET /webhooks/{id}` shows it.
async fn subscription(app: &TestApp, webhook_id: &str) -> Value {
    let shown = app.get(&format!("/webhooks/{webhook_id}")).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.text);
    shown.body
}

/// A receiver that always fails: its messages are parked after 2 attempts, each attempt shown
/// at `/webhooks/{id}/deliveries` and counted in the metrics. Once it is healthy, a replay from
/// position 1 sends it every event of its types again, the parked ones and those from before
/// it subscribed included, per account in log order; its backlog then reads empty.
async fn a_replay_sends_the_log_again_parked_messages_and_history_included(db: TestDb) {
    let app = TestApp::new(db).await;
    let service = app.service.clone().with_webhook_allow_private(true);
    let app = app.with_service(service);
    let before = open(&app).await;
    deposit(&app, before, 5).await;
    let receiver = Receiver::start(usize::MAX).await;
    let types = ["account.opened.v1", "money.deposited.v1"];
    let (webhook_id, starts_after) = subscribe(&app, &receiver, &types).await;
    let (outbox, sender) = app.service.start_webhooks(quick(2)).expect("webhooks");
    let accounts = [open(&app).await, open(&app).await];
    for account in accounts {
        deposit(&app, account, 1).await;
        deposit(&app, account, 2).await;
    }

    // Each account's first message (its opening) is parked; the deposits wait behind them.
    let mut shown = Value::Null;
    for _ in 0..3000 {
        shown = subscription(&app, &webhook_id).await;
        // (The outbox may not have enqueued the last deposit yet when both are parked.)
        if shown["backlog"]["parked"] == 2 && shown["backlog"]["waiting"] == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(shown["backlog"]["parked"], 2, "{shown}");
    assert_eq!(
        shown["backlog"]["waiting"], 6,
        "two openings, four deposits: {shown}"
    );
    assert!(shown["backlog"]["lag_events"].as_i64() > Some(0), "{shown}");
    let deliveries = app.get(&format!("/webhooks/{webhook_id}/deliveries")).await;
    assert_eq!(deliveries.status, StatusCode::OK, "{}", deliveries.text);
    let attempts = deliveries.body["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(attempts.len(), 4, "two attempts of each opening: {attempts:?}");
    let mut by_event: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for attempt in &attempts {
        assert_eq!(attempt["status"], 500, "{attempt}");
        assert_eq!(attempt["event_type"], "account.opened.v1", "{attempt}");
        let outcome = if attempt["attempt"] == 2 {
            "parked"
        } else {
            "failed"
        };
        assert_eq!(attempt["outcome"], outcome, "{attempt}");
        assert!(
            attempt["latency_ms"].as_i64().is_some_and(|ms| ms >= 0),
            "{attempt}"
        );
        by_event
            .entry(attempt["event_id"].to_string())
            .or_default()
            .push(attempt["attempt"].as_i64().expect("attempt"));
    }
    // Newest first: each opening's second attempt before its first.
    assert_eq!(
        by_event.into_values().collect::<Vec<_>>(),
        [vec![2, 1], vec![2, 1]]
    );
    let metrics = app.get("/metrics").await.text;
    assert!(
        metrics.contains("foldbank_webhook_attempts_total{outcome=\"parked\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("foldbank_webhook_attempts_total{outcome=\"failed\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "foldbank_webhook_parked_messages{{webhook_id=\"{webhook_id}\"}} 2"
        )),
        "{metrics}"
    );

    let refused = app
        .post(
            &format!("/webhooks/{webhook_id}/replay"),
            json!({ "from_position": 0 }),
        )
        .await;
    refused.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    let unknown = app
        .post(
            &format!("/webhooks/{}/replay", Uuid::now_v7()),
            json!({ "from_position": 1 }),
        )
        .await;
    unknown.assert_problem(StatusCode::NOT_FOUND, "webhook-not-found");

    receiver.heal();
    let replayed = app
        .post(
            &format!("/webhooks/{webhook_id}/replay"),
            json!({ "from_position": 1 }),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::ACCEPTED, "{}", replayed.text);
    assert_eq!(replayed.body["from_position"], 1);
    assert!(
        replayed.body["until_position"].as_i64() > Some(starts_after),
        "{}",
        replayed.text
    );
    let expected = events_of(&app, 0, &["AccountOpened", "MoneyDeposited"]).await;
    assert_eq!(expected.len(), 3 + 5, "three openings, five deposits");
    wait_for("the replay delivered the whole log", || {
        receiver.ids() == expected
    })
    .await;
    for _ in 0..3000 {
        shown = subscription(&app, &webhook_id).await;
        if shown["backlog"]["waiting"] == 0 && shown["replay"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        shown["backlog"],
        json!({ "waiting": 0, "parked": 0, "lag_events": 0 }),
        "{shown}"
    );
    assert_eq!(shown["replay"], Value::Null, "{shown}");
    let latest = app
        .get(&format!("/webhooks/{webhook_id}/deliveries?limit=1"))
        .await;
    let latest = latest.body["deliveries"].as_array().cloned().unwrap_or_default();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0]["outcome"], "delivered", "{latest:?}");
    assert_eq!(latest[0]["status"], 204, "{latest:?}");
    let too_many = app
        .get(&format!("/webhooks/{webhook_id}/deliveries?limit=501"))
        .await;
    too_many.assert_problem(StatusCode::BAD_REQUEST, "validation-failed");
    stop_webhooks(&app, outbox, sender).await;

    // The replay's first arrivals keep log order per account, history included.
    let received = receiver.received();
    assert!(received.iter().all(|r| r.verified), "signed");
    let last = assert_in_log_order_per_account(&received);
    assert!(last.contains_key(&before.to_string()), "history included");
}

/// Two service processes on one database and a receiver on loopback; deposits go through
/// both. The process that sends (it started first, so it leads the sender and the outbox) is
/// SIGKILLed mid-load: the other takes the work over, and every deposit in the log reaches the
/// receiver, signed, per account in log order.
async fn every_message_is_delivered_when_the_sending_process_is_killed(db: TestDb) {
    use crate::common::{Server, free_port};
    let receiver = Receiver::start(0).await;
    let first = Server::start_with(&db, free_port(), &["--webhook-allow-private"]).await;
    let second = Server::start_with(&db, free_port(), &["--webhook-allow-private"]).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let created: Value = client
        .post(first.url("/webhooks"))
        .json(&json!({ "url": receiver.url(), "event_types": ["money.deposited.v1"] }))
        .send()
        .await
        .expect("subscribe")
        .json()
        .await
        .expect("json");
    receiver.set_secret(created["secret"].as_str().expect("secret"));
    let starts_after = created["starts_after"].as_i64().expect("starts_after");
    let mut accounts = Vec::new();
    for _ in 0..4 {
        let opened: Value = client
            .post(first.url("/accounts"))
            .json(&json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" }))
            .send()
            .await
            .expect("open")
            .json()
            .await
            .expect("json");
        accounts.push(opened["account_id"].as_str().expect("account").to_owned());
    }

    let bases = [first.url(""), second.url("")];
    let clients: Vec<_> = accounts
        .iter()
        .enumerate()
        .map(|(n, account)| {
            let (client, account) = (client.clone(), account.clone());
            let base = bases[n % 2].clone();
            tokio::spawn(async move {
                for amount in 1..=60 {
                    let sent = client
                        .post(format!("{base}/accounts/{account}/deposits"))
                        .json(&json!({ "amount": amount, "currency": "EUR" }))
                        .send()
                        .await;
                    // The clients of the killed process stop at their first cut-off request.
                    if sent.is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    wait_for("deliveries under way", || receiver.ids().len() >= 20).await;
    first.kill();
    for client in clients {
        client.await.expect("client");
    }

    // Every deposit in the log, as the survivor shows it.
    let mut expected = BTreeSet::new();
    let mut after = starts_after;
    loop {
        let page: Value = client
            .get(second.url(&format!("/events?after={after}&limit=500")))
            .send()
            .await
            .expect("feed")
            .json()
            .await
            .expect("json");
        let events = page["events"].as_array().cloned().unwrap_or_default();
        let Some(last) = events.last().and_then(|event| event["position"].as_i64()) else {
            break;
        };
        after = last;
        expected.extend(
            events
                .iter()
                .filter(|event| event["type"] == "MoneyDeposited")
                .filter_map(|event| event["event_id"].as_str().map(str::to_owned)),
        );
    }
    assert!(expected.len() > 20, "deposits went through: {}", expected.len());
    wait_for("the survivor delivered every deposit", || {
        receiver.ids() == expected
    })
    .await;
    second.kill();

    let received = receiver.received();
    assert!(received.iter().all(|r| r.verified), "signed");
    assert_in_log_order_per_account(&received);
}

/// A replay read two events a page, while deposits go on: the later messages of each account
/// wait until the replay has gone past their position, so from the replay on each account's
/// messages arrive in log order, the replayed ones first.
async fn a_replay_of_many_pages_keeps_log_order_per_account_while_commands_go_on(db: TestDb) {
    let app = TestApp::new(db).await;
    let service = app.service.clone().with_webhook_allow_private(true);
    let app = app.with_service(service);
    let receiver = Receiver::start(0).await;
    let (webhook_id, starts_after) = subscribe(&app, &receiver, &["money.deposited.v1"]).await;
    let settings = DeliverySettings {
        replay_page: 2,
        ..quick(1000)
    };
    let (outbox, sender) = app.service.start_webhooks(settings).expect("webhooks");
    let accounts = [open(&app).await, open(&app).await];
    for amount in 1..=4 {
        for account in accounts {
            deposit(&app, account, amount).await;
        }
    }
    let before = events_of(&app, starts_after, &["MoneyDeposited"]).await;
    wait_for("the first deposits arrived", || receiver.ids() == before).await;
    let mark = receiver.received().len();

    let replayed = app
        .post(
            &format!("/webhooks/{webhook_id}/replay"),
            json!({ "from_position": 1 }),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::ACCEPTED, "{}", replayed.text);
    for amount in 5..=7 {
        for account in accounts {
            deposit(&app, account, amount).await;
        }
    }
    let all = events_of(&app, starts_after, &["MoneyDeposited"]).await;
    assert_eq!(all.len(), 14);
    let since_replay =
        || -> BTreeSet<String> { receiver.received()[mark..].iter().map(|r| r.id.clone()).collect() };
    wait_for("the replay and the new deposits arrived", || {
        since_replay() == all
    })
    .await;
    stop_webhooks(&app, outbox, sender).await;

    assert_in_log_order_per_account(&receiver.received()[mark..]);
}
