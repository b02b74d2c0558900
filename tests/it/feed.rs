//! The event feed for other services, over a real socket: `GET /events` pages the whole log by
//! position, `GET /events/stream` streams it as Server-Sent Events and resumes from
//! `Last-Event-ID` with no gap and no duplicate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use foldbank::app::{self, App, EventStreamSettings, HttpSettings};
use foldbank::auth::Role;
use foldbank::clock::{SystemClock, UuidV7};
use foldbank::domain::ids::OwnerId;
use foldbank::http::auth::AuthMode;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::common::{Server, TestDb, backend_tests, free_port};

backend_tests!(
    paging_the_log_returns_every_position_once_in_order,
    the_feed_refuses_bad_parameters_and_customer_keys,
    a_subscriber_that_disconnects_mid_load_and_resumes_sees_every_position_once,
    last_event_id_takes_precedence_over_after,
    events_appended_by_another_process_reach_the_stream,
    subscribers_beyond_the_bound_are_refused_until_one_leaves,
    an_idle_stream_sends_keep_alive_comments,
    streams_end_when_the_server_shuts_down,
    the_binary_ends_its_streams_on_sigterm_and_stops,
    a_revoked_key_ends_its_stream_before_any_later_event,
    an_idle_stream_ends_once_its_key_is_revoked,
    the_stream_opens_personal_fields_and_shows_an_erased_owners_as_null,
);

/// Not a measure of speed: a stream that never delivers is a failure, not a hung test run.
const PATIENCE: Duration = Duration::from_secs(60);

/// A foldbank server on port 0 that requires keys, with an operator and a customer key.
struct FeedServer {
    app: App,
    base: String,
    operator: String,
    customer: String,
    client: reqwest::Client,
    server: JoinHandle<std::io::Result<()>>,
}

impl FeedServer {
    async fn start(db: &TestDb, streams: EventStreamSettings) -> FeedServer {
        let app = App::new(db.database.clone(), Arc::new(SystemClock), Arc::new(UuidV7))
            .with_master_key(crate::common::master_key())
            .with_event_streams(streams)
            .with_auth(AuthMode::Keys);
        let key = |role| {
            let keys = app.http.keys.clone();
            async move {
                keys.create(role, Some("feed test"), Utc::now())
                    .await
                    .expect("create key")
                    .key
            }
        };
        let operator = key(Role::Operator).await;
        let customer = key(Role::Customer(OwnerId(Uuid::now_v7()))).await;
        let (base, server) = serve(&app).await;
        FeedServer {
            app,
            base,
            operator,
            customer,
            client: reqwest::Client::new(),
            server,
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.operator)
    }

    /// Opens an EUR account with an opening deposit (two events) and returns its id.
    async fn open_account(&self) -> Uuid {
        open_account(&self.client, &self.base, &self.operator).await
    }

    async fn deposit(&self, account: Uuid) {
        deposit(&self.client, &self.base, &self.operator, account).await;
    }

    async fn head(&self) -> i64 {
        self.app.store.head_position().await.expect("head")
    }

    /// Opens `/events/stream` with extra `headers` and query `query`.
    async fn subscribe(&self, query: &str, headers: &[(&str, &str)]) -> Subscriber {
        let mut request = self.get(&format!("/events/stream{query}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK, "subscribe");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Subscriber {
            response,
            buffer: String::new(),
        }
    }

    /// Shuts the server down the way the binary does, and waits until it has stopped.
    async fn shut_down(self) {
        self.app.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("the server stops")
            .expect("server task")
            .expect("graceful shutdown");
    }
}

/// Serves `app` on a port of its own until its shutdown token is cancelled.
async fn serve(app: &App) -> (String, JoinHandle<std::io::Result<()>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    let shutdown = app.shutdown.clone();
    let server = tokio::spawn(app::serve(
        listener,
        app.router(HttpSettings::default()),
        async move { shutdown.cancelled().await },
    ));
    (base, server)
}

async fn open_account(client: &reqwest::Client, base: &str, key: &str) -> Uuid {
    let opened = client
        .post(format!("{base}/accounts"))
        .bearer_auth(key)
        .json(&json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": 100 }))
        .send()
        .await
        .expect("request");
    assert_eq!(opened.status(), StatusCode::CREATED);
    let body: Value = opened.json().await.expect("json");
    body["account_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("account_id")
}

async fn deposit(client: &reqwest::Client, base: &str, key: &str, account: Uuid) {
    let deposited = client
        .post(format!("{base}/accounts/{account}/deposits"))
        .bearer_auth(key)
        .json(&json!({ "amount": 1, "currency": "EUR" }))
        .send()
        .await
        .expect("request");
    assert_eq!(deposited.status(), StatusCode::CREATED);
}

/// What a `text/event-stream` carries: events and comments.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    Event { id: i64, event: String, data: Value },
    Comment,
}

/// A client of `/events/stream`: parses the `text/event-stream` format as it arrives.
struct Subscriber {
    response: reqwest::Response,
    buffer: String,
}

impl Subscriber {
    /// The next event or comment; `None` when the server ended the stream.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(&block));
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("the stream delivers")
                .expect("the stream is readable")?;
            self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next event, skipping keep-alive comments.
    async fn next_event(&mut self) -> (i64, String, Value) {
        loop {
            match self.next_frame().await.expect("the stream goes on") {
                Frame::Event { id, event, data } => return (id, event, data),
                Frame::Comment => {}
            }
        }
    }
}

#[track_caller]
fn parse_block(block: &str) -> Frame {
    let lines: Vec<&str> = block.lines().filter(|line| !line.is_empty()).collect();
    if lines.iter().all(|line| line.starts_with(':')) {
        return Frame::Comment;
    }
    let field = |name: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(name))
            .map(|value| value.strip_prefix(' ').unwrap_or(value).to_owned())
            .unwrap_or_else(|| panic!("no {name} in {block:?}"))
    };
    Frame::Event {
        id: field("id:").parse().expect("numeric id"),
        event: field("event:"),
        data: serde_json::from_str(&field("data:")).expect("JSON data"),
    }
}

/// Writes `accounts` accounts with `deposits` deposits each: `accounts * (2 + deposits)` events.
async fn write_events(server: &FeedServer, accounts: usize, deposits: usize) {
    for _ in 0..accounts {
        let account = server.open_account().await;
        for _ in 0..deposits {
            server.deposit(account).await;
        }
    }
}

async fn paging_the_log_returns_every_position_once_in_order(db: TestDb) {
    let server = FeedServer::start(&db, EventStreamSettings::default()).await;
    write_events(&server, 3, 3).await;
    let head = server.head().await;
    assert_eq!(head, 15);

    let mut positions = Vec::new();
    let mut path = "/events?limit=4".to_owned();
    loop {
        let page = server.get(&path).send().await.expect("request");
        assert_eq!(page.status(), StatusCode::OK);
        let link = page
            .headers()
            .get("link")
            .map(|link| link.to_str().expect("ASCII").to_owned());
        let body: Value = page.json().await.expect("json");
        let events = body["events"].as_array().expect("events").clone();
        assert!(events.len() <= 4, "limit respected");
        positions.extend(
            events
                .iter()
                .map(|event| event["position"].as_i64().expect("position")),
        );
        match body["next_after"].as_i64() {
            Some(next) => {
                assert_eq!(
                    Some(next),
                    positions.last().copied(),
                    "the cursor is the last position"
                );
                assert_eq!(
                    link.as_deref(),
                    Some(format!("</events?after={next}&limit=4>; rel=\"next\"").as_str())
                );
                path = format!("/events?after={next}&limit=4");
            }
            None => {
                assert!(body["next_after"].is_null());
                assert_eq!(link, None, "no next link on the last page");
                break;
            }
        }
    }
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());

    // Without parameters: from the first event, 50 a page.
    let all: Value = server
        .get("/events")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(all["events"].as_array().map(Vec::len), Some(15));
    let first = &all["events"][0];
    assert_eq!(first["position"], 1);
    assert_eq!(first["stream_type"], "account");
    assert_eq!(first["version"], 1);
    assert_eq!(first["type"], "AccountOpened");
    for field in [
        "event_id",
        "stream_id",
        "recorded_at",
        "occurred_at",
        "schema_version",
    ] {
        assert!(!first[field].is_null(), "{field} present");
    }
    assert!(first["metadata"].is_object() && first["data"].is_object());
    // The same item as in the account's audit trail.
    let account = first["stream_id"].as_str().expect("stream id");
    let trail: Value = server
        .get(&format!("/accounts/{account}/events"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(trail["events"][0], *first);

    let past_the_end: Value = server
        .get(&format!("/events?after={head}"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(past_the_end, json!({ "events": [], "next_after": null }));
}

async fn the_feed_refuses_bad_parameters_and_customer_keys(db: TestDb) {
    let server = FeedServer::start(&db, EventStreamSettings::default()).await;
    write_events(&server, 1, 0).await;
    for (path, problem) in [
        ("/events?limit=0", "validation-failed"),
        ("/events?limit=501", "validation-failed"),
        ("/events?after=-1", "validation-failed"),
        ("/events?after=abc", "malformed-request"),
        ("/events?limit=1.5", "malformed-request"),
        ("/events/stream?after=-3", "validation-failed"),
        ("/events/stream?after=x", "malformed-request"),
    ] {
        let refused = server.get(path).send().await.expect("request");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        let body: Value = refused.json().await.expect("problem");
        assert_eq!(body["type"], format!("urn:foldbank:problem:{problem}"), "{path}");
    }
    for last_event_id in ["-1", "seven", "1.0"] {
        let refused = server
            .get("/events/stream")
            .header("last-event-id", last_event_id)
            .send()
            .await
            .expect("request");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{last_event_id}");
        let body: Value = refused.json().await.expect("problem");
        assert_eq!(body["type"], "urn:foldbank:problem:validation-failed");
    }
    for path in ["/events", "/events/stream"] {
        let customer = server
            .client
            .get(format!("{}{path}", server.base))
            .bearer_auth(&server.customer)
            .send()
            .await
            .expect("request");
        assert_eq!(customer.status(), StatusCode::FORBIDDEN, "{path}");
        let body: Value = customer.json().await.expect("problem");
        assert_eq!(body["type"], "urn:foldbank:problem:forbidden");

        let anonymous = server
            .client
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .expect("request");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
}

async fn a_subscriber_that_disconnects_mid_load_and_resumes_sees_every_position_once(db: TestDb) {
    let server = Arc::new(FeedServer::start(&db, EventStreamSettings::default()).await);
    // Writers go on until told to stop, so every disconnect below happens while they write.
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop) = (server.clone(), stop.clone());
            tokio::spawn(async move {
                let account = server.open_account().await;
                let mut written = 0;
                while !stop.load(Ordering::Relaxed) && written < 5_000 {
                    server.deposit(account).await;
                    written += 1;
                }
            })
        })
        .collect();

    let mut seen: Vec<i64> = Vec::new();
    // Three sessions cut off mid-load, each resumed from the last id it received.
    for session in 0..3 {
        let mut subscriber = match seen.last() {
            None => server.subscribe("", &[]).await,
            Some(last) => {
                server
                    .subscribe("", &[("last-event-id", &last.to_string())])
                    .await
            }
        };
        for _ in 0..25 {
            let (id, event, data) = subscriber.next_event().await;
            assert_eq!(data["position"], id, "session {session}: id is the position");
            assert_eq!(data["type"], event.as_str());
            seen.push(id);
        }
        drop(subscriber);
    }
    let mut subscriber = server
        .subscribe("", &[("last-event-id", &seen.last().expect("seen").to_string())])
        .await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer");
    }
    let head = server.head().await;
    while seen.last() != Some(&head) {
        let (id, _, _) = subscriber.next_event().await;
        seen.push(id);
    }
    assert!(head > 75, "the writers wrote throughout: head {head}");
    assert_eq!(
        seen,
        (1..=head).collect::<Vec<_>>(),
        "every position exactly once, in order"
    );
}

async fn last_event_id_takes_precedence_over_after(db: TestDb) {
    let server = FeedServer::start(&db, EventStreamSettings::default()).await;
    write_events(&server, 2, 2).await;
    let mut by_query = server.subscribe("?after=3", &[]).await;
    assert_eq!(by_query.next_event().await.0, 4);
    let mut by_header = server.subscribe("?after=3", &[("last-event-id", "6")]).await;
    assert_eq!(by_header.next_event().await.0, 7);
    let mut from_the_start = server.subscribe("", &[("last-event-id", "")]).await;
    assert_eq!(from_the_start.next_event().await.0, 1);
}

async fn events_appended_by_another_process_reach_the_stream(db: TestDb) {
    // A short poll: the other process's appends reach this one by polling alone (no projector
    // runs here, so no PostgreSQL notification is listened to).
    let settings = EventStreamSettings {
        poll_interval: Duration::from_millis(50),
        ..EventStreamSettings::default()
    };
    let server = FeedServer::start(&db, settings).await;
    // Another process: pools of its own on the same database.
    let other = App::new(db.reconnect().await, Arc::new(SystemClock), Arc::new(UuidV7))
        .with_master_key(crate::common::master_key())
        .with_auth(AuthMode::Keys);
    let (other_base, other_server) = serve(&other).await;

    let mut subscriber = server.subscribe("", &[]).await;
    let account = open_account(&server.client, &other_base, &server.operator).await;
    let (first, event, data) = subscriber.next_event().await;
    assert_eq!((first, event.as_str()), (1, "AccountOpened"));
    assert_eq!(data["stream_id"], account.to_string());
    assert_eq!(subscriber.next_event().await.0, 2);
    deposit(&server.client, &other_base, &server.operator, account).await;
    assert_eq!(subscriber.next_event().await.0, 3);

    other.shutdown.cancel();
    other_server.await.expect("task").expect("graceful shutdown");
}

async fn subscribers_beyond_the_bound_are_refused_until_one_leaves(db: TestDb) {
    let settings = EventStreamSettings {
        max_streams: 2,
        // Frequent writes let the server notice a subscriber that left.
        keep_alive: Duration::from_millis(50),
        ..EventStreamSettings::default()
    };
    let server = FeedServer::start(&db, settings).await;
    let first = server.subscribe("", &[]).await;
    let _second = server.subscribe("", &[]).await;
    let refused = server.get("/events/stream").send().await.expect("request");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.expect("problem");
    assert_eq!(body["type"], "urn:foldbank:problem:too-many-event-streams");
    assert_eq!(body["max_event_streams"], 2);
    // The paged feed is not a stream: it is still served.
    assert_eq!(
        server.get("/events").send().await.expect("request").status(),
        StatusCode::OK
    );

    drop(first);
    let mut admitted = false;
    for _ in 0..600 {
        let response = server.get("/events/stream").send().await.expect("request");
        if response.status() == StatusCode::OK {
            admitted = true;
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        admitted,
        "the place of a subscriber that left is given to another"
    );
}

async fn an_idle_stream_sends_keep_alive_comments(db: TestDb) {
    let settings = EventStreamSettings {
        keep_alive: Duration::from_millis(50),
        ..EventStreamSettings::default()
    };
    let server = FeedServer::start(&db, settings).await;
    let mut subscriber = server.subscribe("", &[]).await;
    // The log is empty: nothing but keep-alives can come.
    assert_eq!(subscriber.next_frame().await, Some(Frame::Comment));
    assert_eq!(subscriber.next_frame().await, Some(Frame::Comment));
    // And an event appended meanwhile still arrives, between them.
    server.open_account().await;
    assert_eq!(subscriber.next_event().await.0, 1);
}

async fn streams_end_when_the_server_shuts_down(db: TestDb) {
    let server = FeedServer::start(&db, EventStreamSettings::default()).await;
    write_events(&server, 1, 0).await;
    let mut subscriber = server.subscribe("", &[]).await;
    assert_eq!(subscriber.next_event().await.0, 1);
    assert_eq!(subscriber.next_event().await.0, 2);
    // Caught up and waiting: shutting down ends the stream instead of waiting for it.
    server.shut_down().await;
    assert_eq!(subscriber.next_frame().await, None);
}

async fn the_binary_ends_its_streams_on_sigterm_and_stops(db: TestDb) {
    let server = Server::start(&db, free_port()).await;
    let client = reqwest::Client::new();
    // No key exists: the binary runs in local development mode, where requests need none.
    let opened = client
        .post(server.url("/accounts"))
        .json(&json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" }))
        .send()
        .await
        .expect("request");
    assert_eq!(opened.status(), StatusCode::CREATED);
    let account = opened.json::<Value>().await.expect("json")["account_id"].clone();
    let response = client
        .get(server.url("/events/stream"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let mut subscriber = Subscriber {
        response,
        buffer: String::new(),
    };
    let (_, _, data) = subscriber.next_event().await;
    assert_eq!(data["stream_id"], account);
    assert!(server.terminate().await, "a graceful exit");
    while let Some(frame) = subscriber.next_frame().await {
        assert!(matches!(frame, Frame::Event { .. } | Frame::Comment));
    }
}

impl FeedServer {
    /// A second operator key, to revoke: its id and the key.
    async fn revocable_key(&self) -> (Uuid, String) {
        let created = self
            .app
            .http
            .keys
            .create(Role::Operator, Some("revocable"), Utc::now())
            .await
            .expect("create key");
        (created.key_id, created.key)
    }

    async fn subscribe_as(&self, key: &str) -> Subscriber {
        let response = self
            .client
            .get(format!("{}/events/stream", self.base))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "subscribe");
        Subscriber {
            response,
            buffer: String::new(),
        }
    }
}

impl Subscriber {
    /// Every event until the server ends the stream (keep-alives skipped).
    async fn rest(&mut self) -> Vec<i64> {
        let mut ids = Vec::new();
        while let Some(frame) = self.next_frame().await {
            if let Frame::Event { id, .. } = frame {
                ids.push(id);
            }
        }
        ids
    }
}

/// The key is asked about again with every batch the stream reads: an event appended after the
/// revocation is never delivered, and the stream ends.
async fn a_revoked_key_ends_its_stream_before_any_later_event(db: TestDb) {
    let server = FeedServer::start(&db, EventStreamSettings::default()).await;
    write_events(&server, 1, 0).await;
    let (key_id, key) = server.revocable_key().await;
    let mut subscriber = server.subscribe_as(&key).await;
    assert_eq!(subscriber.next_event().await.0, 1);
    assert_eq!(subscriber.next_event().await.0, 2);

    assert!(
        server
            .app
            .http
            .keys
            .revoke(key_id, Utc::now())
            .await
            .expect("revoke")
    );
    write_events(&server, 2, 1).await;

    assert_eq!(
        subscriber.rest().await,
        Vec::<i64>::new(),
        "nothing after the revocation"
    );
    let again = server
        .client
        .get(format!("{}/events/stream", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}

/// A stream with nothing to send asks again at least every keep-alive interval.
async fn an_idle_stream_ends_once_its_key_is_revoked(db: TestDb) {
    let settings = EventStreamSettings {
        keep_alive: Duration::from_millis(50),
        poll_interval: Duration::from_millis(50),
        ..EventStreamSettings::default()
    };
    let server = FeedServer::start(&db, settings).await;
    let (key_id, key) = server.revocable_key().await;
    let mut subscriber = server.subscribe_as(&key).await;
    assert_eq!(
        subscriber.next_frame().await,
        Some(Frame::Comment),
        "open and idle"
    );

    assert!(
        server
            .app
            .http
            .keys
            .revoke(key_id, Utc::now())
            .await
            .expect("revoke")
    );
    assert_eq!(subscriber.rest().await, Vec::<i64>::new());
}

/// Personal data in the stream: opened as each event is sent, `null` with `"personal_data":
/// "erased"` once its owner is erased (see "Personal data" in docs/operating.md).
async fn the_stream_opens_personal_fields_and_shows_an_erased_owners_as_null(db: TestDb) {
    let server = FeedServer::start(&db, EventStreamSettings::default()).await;
    let owner = Uuid::now_v7();
    let post = |path: String, body: Value| {
        server
            .client
            .post(format!("{}{path}", server.base))
            .bearer_auth(&server.operator)
            .json(&body)
            .send()
    };
    let opened: Value = post(
        "/accounts".into(),
        json!({ "owner_id": owner, "currency": "EUR", "holder_name": "Dana Example" }),
    )
    .await
    .expect("open")
    .json()
    .await
    .expect("json");
    let account = opened["account_id"].as_str().expect("account_id").to_owned();
    let deposited = post(
        format!("/accounts/{account}/deposits"),
        json!({ "amount": 5, "currency": "EUR", "description": "rent for May" }),
    )
    .await
    .expect("deposit");
    assert_eq!(deposited.status(), StatusCode::CREATED);

    let mut before = server.subscribe("?after=0", &[]).await;
    let (_, kind, data) = before.next_event().await;
    assert_eq!(
        (kind.as_str(), &data["data"]["holder_name"]),
        ("AccountOpened", &json!("Dana Example"))
    );
    let (_, kind, data) = before.next_event().await;
    assert_eq!(
        (kind.as_str(), &data["data"]["description"]),
        ("MoneyDeposited", &json!("rent for May"))
    );

    let erased = post(format!("/owners/{owner}/erasure"), json!({}))
        .await
        .expect("erase");
    assert_eq!(erased.status(), StatusCode::OK);
    let mut after = server.subscribe("?after=0", &[]).await;
    for expected in ["AccountOpened", "MoneyDeposited"] {
        let (_, kind, data) = after.next_event().await;
        assert_eq!(kind, expected);
        let field = if expected == "AccountOpened" {
            "holder_name"
        } else {
            "description"
        };
        assert_eq!(data["data"][field], Value::Null, "{data}");
        assert_eq!(data["data"]["personal_data"], "erased", "{data}");
    }
    server.shut_down().await;
}
