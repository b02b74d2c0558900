//! Drives the real router in-process (`tower::ServiceExt::oneshot`), with a manual clock.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use foldbank::app::{App, HttpSettings, follower_names, projection_names};
use foldbank::auth::Role;
use foldbank::clock::{Clock, ManualClock, UuidV7};
use foldbank::follow::Following;
use foldbank::http::auth::AuthMode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use super::TestDb;

/// The instant every test clock starts at: a Monday, mid-morning UTC.
pub fn test_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0)
        .single()
        .expect("valid instant")
}

pub struct TestApp {
    pub router: Router,
    pub service: App,
    pub clock: ManualClock,
    pub projector: Option<Following>,
    pub transfer_process: Option<Following>,
    /// The policies (the overdraft fee policy), started with the transfer process manager.
    pub policies: Option<Following>,
    pub db: TestDb,
}

#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    /// The service on `db` with its projector running.
    pub async fn new(db: TestDb) -> TestApp {
        let app = TestApp::without_projector(db).await;
        app.with_projector().await
    }

    /// The service on `db` with no projector: read models stay where they are.
    pub async fn without_projector(db: TestDb) -> TestApp {
        let clock = ManualClock::new(test_start());
        let service = App::new(db.databases(), Arc::new(clock.clone()), Arc::new(UuidV7))
            .with_master_key(super::master_key())
            .with_poll_interval(std::time::Duration::from_millis(100))
            .with_max_backoff(std::time::Duration::from_millis(200));
        TestApp::around(service, clock, db)
    }

    /// A test app around an already built service.
    pub fn around(service: App, clock: ManualClock, db: TestDb) -> TestApp {
        TestApp {
            router: service.router(HttpSettings::default()),
            service,
            clock,
            projector: None,
            transfer_process: None,
            policies: None,
            db,
        }
    }

    /// Rebuilds the router after the service's settings changed.
    pub fn with_service(mut self, service: App) -> TestApp {
        self.router = service.router(HttpSettings::default());
        self.service = service;
        self
    }

    /// Rebuilds the router with other HTTP settings (a small rate limit, say).
    pub fn with_http(mut self, settings: HttpSettings) -> TestApp {
        self.router = self.service.router(settings);
        self
    }

    /// Requests need an API key from now on ([`AuthMode::Keys`]).
    pub fn requiring_keys(self) -> TestApp {
        let service = self.service.clone().with_auth(AuthMode::Keys);
        self.with_service(service)
    }

    /// Creates an API key and returns it whole, with its id.
    pub async fn create_key(&self, role: Role) -> (Uuid, String) {
        let created = self
            .service
            .http
            .keys
            .create(role, Some("test"), self.clock.now())
            .await
            .expect("create key");
        (created.key_id, created.key)
    }

    /// Sends a request with `key` (if any) as its bearer token and `body` (if any) as JSON.
    pub async fn send_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let authorization = key.map(|key| format!("Bearer {key}"));
        let mut headers = Vec::new();
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_str()));
        }
        let body = match body {
            Some(body) => {
                headers.push(("content-type", "application/json"));
                Body::from(body.to_string())
            }
            // A command without parameters: an empty body, still declared JSON.
            None if method == Method::POST => {
                headers.push(("content-type", "application/json"));
                Body::empty()
            }
            None => Body::empty(),
        };
        self.send(method, path, &headers, body).await
    }

    /// Starts (or restarts) the projector, waits until it has caught up, and starts the
    /// transfer process manager.
    pub async fn with_projector(mut self) -> TestApp {
        self.start_projector_in_background();
        self.service.catch_up().await.expect("projector catches up");
        self.start_transfer_process();
        self.start_policies();
        self
    }

    /// Stops the projector after the batch in hand and waits until it has stopped.
    pub async fn stop_projector(&mut self) {
        if let Some(projector) = self.projector.take() {
            projector.stop().await;
        }
    }

    /// Stops the transfer process manager after the batch in hand and waits until it has.
    pub async fn stop_transfer_process(&mut self) {
        if let Some(process) = self.transfer_process.take() {
            process.stop().await;
        }
    }

    /// Starts (or restarts) the transfer process manager.
    pub fn start_transfer_process(&mut self) {
        self.transfer_process = None;
        self.transfer_process = Some(self.service.start_transfer_process());
    }

    /// Stops the policies after the batch in hand and waits until they have.
    pub async fn stop_policies(&mut self) {
        if let Some(policies) = self.policies.take() {
            policies.stop().await;
        }
    }

    /// Starts (or restarts) the policies.
    pub fn start_policies(&mut self) {
        self.policies = None;
        self.policies = Some(self.service.start_policies());
    }

    /// Starts (or restarts) the projector without waiting for it to catch up.
    pub fn start_projector_in_background(&mut self) {
        self.projector = None;
        self.projector = Some(self.service.start_projections());
    }

    /// Waits until the transfer process manager and every read model have caught up with a log
    /// that has stopped growing: every transfer is settled.
    pub async fn settled(&self) -> i64 {
        let names = follower_names();
        let mut head = self.service.store.head_position().await.expect("head");
        for _ in 0..1000 {
            self.service
                .http
                .followers
                .wait_for(&names, head, std::time::Duration::from_secs(30))
                .await
                .expect("everything catches up");
            let now = self.service.store.head_position().await.expect("head");
            if now == head {
                return head;
            }
            head = now;
        }
        panic!("the log kept growing");
    }

    /// Waits (at most 30 s: CI machines can be busy) until every read model reflects the whole log.
    pub async fn caught_up(&self) -> i64 {
        let head = self.service.store.head_position().await.expect("head");
        self.service
            .http
            .followers
            .wait_for(&projection_names(), head, std::time::Duration::from_secs(30))
            .await
            .expect("read models catch up");
        head
    }

    /// Sends a request with a raw body and headers.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(body).expect("valid request");
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("readable body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.post_with(path, &[], body).await
    }

    pub async fn post_with(&self, path: &str, headers: &[(&str, &str)], body: Value) -> TestResponse {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.send(Method::POST, path, &all, Body::from(body.to_string()))
            .await
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, &[], Body::empty()).await
    }

    /// Opens an EUR account with the given terms and returns its id.
    pub async fn open_account(&self, terms: Value) -> Uuid {
        let mut body = json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" });
        if let (Some(body), Some(terms)) = (body.as_object_mut(), terms.as_object()) {
            body.extend(terms.clone());
        }
        let response = self.post("/accounts", body).await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "open account: {}",
            response.text
        );
        response.body["account_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("account_id in response")
    }

    /// Opens an EUR account holding `balance` minor units.
    pub async fn open_account_with(&self, balance: i64) -> Uuid {
        self.open_account(json!({ "initial_deposit": balance })).await
    }

    /// Deposits `amount` EUR minor units; answers the command's body (201 asserted).
    pub async fn deposit(&self, account: Uuid, amount: i64) -> Value {
        self.move_money(account, "deposits", amount).await
    }

    /// Withdraws `amount` EUR minor units; answers the command's body (201 asserted).
    pub async fn withdraw(&self, account: Uuid, amount: i64) -> Value {
        self.move_money(account, "withdrawals", amount).await
    }

    async fn move_money(&self, account: Uuid, movements: &str, amount: i64) -> Value {
        let path = format!("/accounts/{account}/{movements}");
        let response = self
            .post(&path, json!({ "amount": amount, "currency": "EUR" }))
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{path}: {}", response.text);
        response.body
    }

    /// The account's events from the audit trail endpoint, every page of it.
    pub async fn events(&self, account_id: Uuid) -> Vec<Value> {
        let mut events = Vec::new();
        let mut path = format!("/accounts/{account_id}/events");
        loop {
            let response = self.get(&path).await;
            assert_eq!(response.status, StatusCode::OK, "events: {}", response.text);
            events.extend(response.body["events"].as_array().cloned().unwrap_or_default());
            match response.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/accounts/{account_id}/events?cursor={cursor}"),
                None => return events,
            }
        }
    }

    /// A personal field as the service stores it, opened with its owner's key; `Err` says why
    /// it does not open (stored in the clear, erased, altered).
    pub async fn open_personal(&self, stored: &str) -> Result<String, String> {
        let sealed: foldbank::privacy::Sealed = stored
            .parse()
            .map_err(|_| format!("stored in the clear: {stored:?}"))?;
        let keys = self
            .service
            .http
            .keyring
            .opening_keys(&std::collections::BTreeSet::from([sealed.owner()]))
            .await
            .map_err(|error| error.to_string())?;
        match keys.get(&sealed.owner()) {
            Some(foldbank::privacy::OwnerKey::Key(key)) => key
                .open(&sealed)
                .map_err(|error| format!("{stored} does not open with its owner's key: {error}")),
            _ => Err(format!("no key for the owner of {stored}")),
        }
    }

    /// The balance folded from the audit trail.
    pub async fn balance_from_events(&self, account_id: Uuid) -> i64 {
        self.events(account_id)
            .await
            .iter()
            .map(|event| {
                let amount = event["data"]["amount"].as_i64().unwrap_or(0);
                match event["type"].as_str() {
                    Some("MoneyDeposited") => amount,
                    Some("MoneyWithdrawn" | "OverdraftFeeCharged") => -amount,
                    _ => 0,
                }
            })
            .sum()
    }
}

impl TestResponse {
    /// Asserts an RFC 9457 problem of the given status and `type` slug.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, slug: &str) {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(
            self.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.text
        );
        assert_eq!(
            self.body["type"],
            format!("urn:foldbank:problem:{slug}"),
            "body: {}",
            self.text
        );
        assert_eq!(self.body["status"], status.as_u16(), "body: {}", self.text);
        assert!(self.body["title"].is_string(), "title; body: {}", self.text);
        assert!(self.body["detail"].is_string(), "detail; body: {}", self.text);
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}
