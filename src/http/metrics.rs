//! `GET /metrics` (Prometheus text exposition, operator key only) and the middleware that
//! counts and times every HTTP request by route template and status.
//!
//! The metrics themselves are named and recorded in [`crate::metrics`]; this file only feeds
//! it what the HTTP layer sees, and samples what is read at scrape time: each follower's lag
//! behind the log and the events it parked.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::http::AppState;
use crate::http::auth::require_operator;
use crate::http::problem::ApiError;
use crate::http::responses::{OperatorOnly, StorageProblems};
use crate::metrics::{FollowerSample, Metrics, ReplicaSample, WebhookSample};
use crate::projection::ProjectionName;
use strum::VariantArray;

/// How long a replica may take to answer the scrape's sample before it counts as down.
const REPLICA_SAMPLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The content type of the Prometheus text format.
const EXPOSITION_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `route` label of requests that matched no route: one series for every unknown path,
/// rather than one per path a scanner tries.
const UNMATCHED: &str = "unmatched";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    description = "Every metric in the Prometheus text exposition format (version 0.0.4): HTTP \
        requests by route and status, commands by type and outcome, where commands found \
        account state, group-commit batch sizes and latencies, each follower's lag (events and \
        seconds) and parked events, webhook attempts by outcome and each subscription's waiting and \
        parked messages and lag, queries sent to replicas and each replica's lag, and the \
        database pools. Histograms, not summaries. See the \
        \"Metrics\" in docs/operating.md for what each one means and example queries.",
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain"),
        StorageProblems,
        OperatorOnly,
    )
)]
pub(crate) async fn metrics(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    require_operator(caller)?;
    let followers = follower_samples(&app).await?;
    let webhooks = webhook_samples(&app).await?;
    let replicas = replica_samples(&app).await;
    let body = app.metrics.render(&followers, &webhooks, &replicas);
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(EXPOSITION_FORMAT));
    Ok(response)
}

/// Each follower's lag behind the head of the log and the events it parked, as stored (the
/// checkpoint another process moved counts too), as `GET /projections` reports them.
async fn follower_samples(app: &AppState) -> Result<Vec<FollowerSample>, ApiError> {
    let head = app.log.head().await?;
    let stored = app.read_models.checkpoints().await?;
    let parked = app.read_models.parked_events().await?;
    Ok(app
        .followers
        .states()
        .into_iter()
        .map(|state| {
            let stored = stored.iter().find(|stored| stored.name == state.name);
            let checkpoint = stored.map_or(state.checkpoint, |stored| stored.position);
            FollowerSample {
                follower: state.name,
                lag_events: (head - checkpoint).max(0),
                paused: stored.is_some_and(|stored| stored.paused_at.is_some()),
                parked: parked.iter().filter(|event| event.follower == state.name).count(),
            }
        })
        .collect())
}

/// Each webhook subscription's messages still to send, parked, and its lag behind the log.
async fn webhook_samples(app: &AppState) -> Result<Vec<WebhookSample>, ApiError> {
    let head = app.log.head().await?;
    let backlogs = app.subscriptions.backlogs().await?;
    Ok(app
        .subscriptions
        .list()
        .await?
        .into_iter()
        .map(|subscription| {
            let backlog = backlogs.of(subscription.webhook_id);
            WebhookSample {
                webhook_id: subscription.webhook_id.to_string(),
                waiting: backlog.waiting,
                parked: backlog.parked,
                lag_events: backlogs.lag_events(&subscription, head),
            }
        })
        .collect())
}

/// Each replica's lag behind the primary's read models (in events, and its replay lag), or that
/// it did not answer: a replica that is down is a figure here, not a failed scrape.
async fn replica_samples(app: &AppState) -> Vec<ReplicaSample> {
    let primary = ProjectionName::VARIANTS
        .iter()
        .map(|name| app.followers.checkpoint(name.as_str()))
        .min()
        .unwrap_or(0);
    // All at once: a scrape waits for the slowest replica, not for their sum.
    futures_util::future::join_all(app.replicas.members().iter().map(async |replica| {
        let status = tokio::time::timeout(REPLICA_SAMPLE_TIMEOUT, replica.status()).await;
        ReplicaSample {
            replica: replica.label().to_owned(),
            lag: match status {
                Ok(Ok(status)) => Some(((primary - status.reached).max(0), status.replay_lag)),
                _ => None,
            },
        }
    }))
    .await
}

/// Middleware: counts and times each request by method, route template and status.
///
/// It runs inside the router, where axum has put the [`MatchedPath`] of the route.
pub(crate) async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics.http_request(method, &route, response.status().as_u16(), started.elapsed());
    response
}

/// The `method` label: a standard method's name, or `other` for any made-up one, so that a
/// client cannot add a series per request.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ]
    .into_iter()
    .zip([
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ])
    .find_map(|(known, label)| (known == method).then_some(label))
    .unwrap_or("other")
}
