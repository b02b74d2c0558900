//! `GET /metrics`: what an operator's Prometheus scrapes, parsed with a real exposition-format
//! parser after driving commands over HTTP.

use axum::http::{Method, StatusCode};
use foldbank::auth::Role;
use foldbank::domain::ids::OwnerId;
use prom_text_format_parser::{Metric, Sample, Scrape, Type, ValueType};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    metrics_count_commands_requests_appends_and_follower_lag,
    metrics_are_for_operator_keys_only,
    made_up_methods_and_paths_add_no_series,
    a_deleted_webhooks_gauges_leave_the_scrape,
);

const DEPOSITS: usize = 5;

async fn metrics_count_commands_requests_appends_and_follower_lag(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let (_, operator) = app.create_key(Role::Operator).await;
    let key = Some(operator.as_str());

    let opened = app
        .send_as(
            key,
            Method::POST,
            "/accounts",
            Some(json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" })),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    let account = opened.body["account_id"].as_str().expect("account_id").to_owned();
    for _ in 0..DEPOSITS {
        let deposit = app
            .send_as(
                key,
                Method::POST,
                &format!("/accounts/{account}/deposits"),
                Some(json!({ "amount": 100, "currency": "EUR" })),
            )
            .await;
        assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
    }
    let refused = app
        .send_as(
            key,
            Method::POST,
            &format!("/accounts/{account}/withdrawals"),
            Some(json!({ "amount": 1_000_000, "currency": "EUR" })),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    // The read model follows the log a moment behind: the read waits until it has caught up.
    let head = app.caught_up().await;
    let read = app
        .send_as(
            key,
            Method::GET,
            &format!("/accounts/{account}?min_position={head}"),
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);

    let scraped = app.send_as(key, Method::GET, "/metrics", None).await;
    assert_eq!(scraped.status, StatusCode::OK, "{}", scraped.text);
    assert_eq!(
        scraped.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let scrape = parse(&scraped.text);

    // Commands, by type and outcome.
    assert_eq!(
        counter(
            &scrape,
            "foldbank_commands_total",
            &[("command", "Deposit"), ("outcome", "ok")]
        ),
        DEPOSITS as f64
    );
    assert_eq!(
        counter(
            &scrape,
            "foldbank_commands_total",
            &[("command", "Withdraw"), ("outcome", "rejected")]
        ),
        1.0
    );
    assert_eq!(
        histogram_count(
            &scrape,
            "foldbank_command_duration_seconds",
            &[("command", "Deposit"), ("outcome", "ok")]
        ),
        DEPOSITS as f64
    );

    // HTTP requests, by route template (never the account id) and status.
    let deposits_route = [
        ("method", "POST"),
        ("route", "/accounts/{id}/deposits"),
        ("status", "201"),
    ];
    assert_eq!(
        counter(&scrape, "foldbank_http_requests_total", &deposits_route),
        DEPOSITS as f64
    );
    assert_eq!(
        histogram_count(&scrape, "foldbank_http_request_duration_seconds", &deposits_route),
        DEPOSITS as f64
    );
    assert_eq!(
        counter(
            &scrape,
            "foldbank_http_requests_total",
            &[("route", "/accounts/{id}/withdrawals"), ("status", "422")]
        ),
        1.0
    );
    assert!(!scraped.text.contains(&account), "no label carries an account id");

    // Where commands found the account: the log for the opening; the cache for the deposits and
    // the withdrawal; the log again for the withdrawal, refused on the cached state and so
    // decided again on fresh state.
    assert_eq!(
        counter(&scrape, "foldbank_account_loads_total", &[("source", "cache")]),
        (DEPOSITS + 1) as f64
    );
    assert_eq!(
        counter(&scrape, "foldbank_account_loads_total", &[("source", "log")]),
        2.0
    );

    // Group commit: one batch per command sent one after the other (the opening and the
    // deposits; the refusal appends nothing).
    assert_eq!(
        histogram_count(&scrape, "foldbank_append_batch_size", &[]),
        (1 + DEPOSITS) as f64
    );
    assert_eq!(
        histogram_count(&scrape, "foldbank_append_commit_duration_seconds", &[]),
        (1 + DEPOSITS) as f64
    );

    // Followers: caught up, so no lag in events; every event applied was timed.
    for follower in foldbank::app::projection_names() {
        assert_eq!(
            gauge(&scrape, "foldbank_follower_lag_events", &[("follower", follower)]),
            0.0
        );
        assert_eq!(
            gauge(&scrape, "foldbank_parked_events", &[("follower", follower)]),
            0.0
        );
        assert_eq!(
            histogram_count(
                &scrape,
                "foldbank_follower_lag_seconds",
                &[("follower", follower)]
            ),
            (1 + DEPOSITS) as f64,
            "{follower} applied the opening and the deposits"
        );
    }

    // The database pool, sampled at scrape time.
    assert!(
        gauge(
            &scrape,
            "foldbank_db_pool_connections",
            &[("database", "write"), ("pool", "main")]
        ) >= 1.0
    );
    let idle = gauge(
        &scrape,
        "foldbank_db_pool_idle_connections",
        &[("database", "write"), ("pool", "main")],
    );
    assert!(idle >= 0.0);

    // Every family is described.
    for name in [
        "foldbank_commands_total",
        "foldbank_http_request_duration_seconds",
        "foldbank_follower_lag_seconds",
    ] {
        assert!(
            family(&scrape, name).help_desc.is_some(),
            "{name} has a HELP line"
        );
    }
}

async fn metrics_are_for_operator_keys_only(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let (_, customer) = app.create_key(Role::Customer(OwnerId(Uuid::now_v7()))).await;

    app.send_as(Some(&customer), Method::GET, "/metrics", None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.send_as(None, Method::GET, "/metrics", None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // Refusals are counted too.
    let (_, operator) = app.create_key(Role::Operator).await;
    let scraped = app.send_as(Some(&operator), Method::GET, "/metrics", None).await;
    let scrape = parse(&scraped.text);
    assert_eq!(
        counter(
            &scrape,
            "foldbank_http_requests_total",
            &[("route", "/metrics"), ("status", "403")]
        ),
        1.0
    );
    assert_eq!(
        counter(
            &scrape,
            "foldbank_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ),
        1.0
    );
}

#[track_caller]
pub(crate) fn parse(text: &str) -> Scrape {
    Scrape::parse(text).unwrap_or_else(|error| panic!("not the Prometheus text format: {error:?}\n{text}"))
}

#[track_caller]
fn family<'a>(scrape: &'a Scrape, name: &str) -> &'a Metric {
    scrape
        .metrics
        .iter()
        .find(|metric| metric.name == name)
        .unwrap_or_else(|| panic!("no metric family {name}"))
}

/// The value of the one sample of family `name`, of `value_type`, whose labels include `labels`
/// (and that has no `le` bucket label unless asked for).
#[track_caller]
fn value(scrape: &Scrape, name: &str, kind: Type, value_type: ValueType, labels: &[(&str, &str)]) -> f64 {
    let metric = family(scrape, name);
    assert_eq!(metric.kind, kind, "{name} is a {kind:?}");
    let found: Vec<&Sample> = metric
        .samples
        .iter()
        .filter(|sample| sample.value.value_type == value_type)
        .filter(|sample| {
            labels.iter().all(|(key, value)| {
                sample
                    .labels
                    .iter()
                    .any(|label| label.key == *key && label.value == *value)
            })
        })
        .filter(|sample| {
            labels.iter().any(|(key, _)| *key == "le") || !sample.labels.iter().any(|label| label.key == "le")
        })
        .collect();
    match found.as_slice() {
        [one] => one.value.value.as_f64(),
        [] => panic!("no {value_type:?} sample of {name} with {labels:?}"),
        more => panic!("{} samples of {name} with {labels:?}: {more:?}", more.len()),
    }
}

#[track_caller]
pub(crate) fn counter(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, Type::Counter, ValueType::Sample, labels)
}

#[track_caller]
pub(crate) fn gauge(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, Type::Gauge, ValueType::Sample, labels)
}

/// How many observations a histogram (not a summary) holds: its `_count`, also its `+Inf` bucket.
#[track_caller]
fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let count = value(scrape, name, Type::Histogram, ValueType::Count, labels);
    let mut infinite = labels.to_vec();
    infinite.push(("le", "+Inf"));
    let bucket = value(scrape, name, Type::Histogram, ValueType::Sample, &infinite);
    assert_eq!(count, bucket, "{name}: _count equals the +Inf bucket");
    count
}

/// Anyone may send requests with made-up methods and paths: they are counted under `other`
/// and `unmatched`, never as series of their own.
async fn made_up_methods_and_paths_add_no_series(db: TestDb) {
    let app = TestApp::new(db).await;
    for n in 0..20 {
        let method = Method::from_bytes(format!("MADEUP{n}").as_bytes()).expect("a method token");
        let response = app
            .send(
                method,
                &format!("/no/such/path/{n}"),
                &[],
                axum::body::Body::empty(),
            )
            .await;
        assert!(response.status.is_client_error(), "{}", response.status);
        let known = app.get(&format!("/no/such/path/{n}")).await;
        assert_eq!(known.status, StatusCode::NOT_FOUND);
    }

    let scrape = parse(&app.get("/metrics").await.text);
    let requests = family(&scrape, "foldbank_http_requests_total");
    let label = |sample: &Sample, key: &str| {
        sample
            .labels
            .iter()
            .find(|label| label.key == key)
            .map(|label| label.value.clone())
            .unwrap_or_default()
    };
    for sample in &requests.samples {
        assert!(
            ["GET", "POST", "other"].contains(&label(sample, "method").as_str()),
            "{sample:?}"
        );
        assert!(!label(sample, "route").contains("/no/such/path/"), "{sample:?}");
    }
    let made_up: f64 = requests
        .samples
        .iter()
        .filter(|sample| label(sample, "method") == "other")
        .map(|sample| sample.value.value.as_f64())
        .sum();
    assert_eq!(made_up, 20.0);
}

/// A webhook's gauges are there while it is, and leave `/metrics` once it is deleted, rather
/// than show its last figures for as long as the process runs.
async fn a_deleted_webhooks_gauges_leave_the_scrape(db: TestDb) {
    let app = TestApp::new(db).await;
    let created = app
        .post(
            "/webhooks",
            json!({ "url": "https://ledger.example.com/in", "event_types": ["money.deposited.v1"] }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["webhook_id"]
        .as_str()
        .expect("webhook_id")
        .to_owned();
    let scraped = app.get("/metrics").await;
    assert!(
        scraped.text.contains(&format!("webhook_id=\"{id}\"")),
        "{}",
        scraped.text
    );

    let deleted = app
        .send(
            Method::DELETE,
            &format!("/webhooks/{id}"),
            &[],
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    // Past the time a gauge outlives the scrape that set it last.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let scraped = app.get("/metrics").await;
    assert!(
        !scraped.text.contains(&format!("webhook_id=\"{id}\"")),
        "{}",
        scraped.text
    );
    // The gauges every scrape sets are all still there.
    let scrape = parse(&scraped.text);
    assert!(
        gauge(
            &scrape,
            "foldbank_follower_lag_events",
            &[("follower", "account_balances")]
        ) >= 0.0
    );
}
