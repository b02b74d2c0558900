//! The HTTP interface: routes, DTOs, extractors, errors, OpenAPI.
//!
//! One file per resource. Handlers parse requests into domain values, call the command side
//! (or, for queries, the read side) and render the result; [`problem::ApiError`] is the only
//! error that becomes a response. Cross-cutting behaviour (request ids, tracing, load
//! shedding, time-outs, body limits) is the tower stack in [`router`].

pub mod account_views;
pub mod accounts;
pub mod auth;
pub mod chain;
pub mod events;
mod explorer;
pub mod extract;
pub mod feed;
pub mod feed_stream;
pub mod health;
pub mod holds;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod owners;
pub(crate) mod personal;
pub mod problem;
pub mod projections;
pub(crate) mod rate_limit;
mod reads;
mod recorded;
mod responses;
mod schema;
mod state;
pub mod transactions;
pub mod transfers;
pub mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::MatchedPath;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::load_shed::error::Overloaded;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::extract::BODY_LIMIT_BYTES;
use crate::http::problem::ApiError;
pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every documented route, with the OpenAPI paths collected from the handlers.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(accounts::router())
        .merge(account_views::router())
        .merge(transactions::router())
        .merge(transfers::router())
        .merge(holds::router())
        .merge(owners::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(feed::router())
        .merge(feed_stream::router())
        .merge(chain::router())
        .merge(projections::router())
        .merge(metrics::router())
        .merge(health::router())
}

/// The HTTP settings of the server.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    pub request_timeout: Duration,
    /// Requests served at once; the next ones are answered `503 overloaded`.
    pub max_requests_in_flight: usize,
    /// Requests per second each caller (an API key, or a client address in local development
    /// mode) may send on average, and how many at once above that.
    pub rate_limit: RateLimit,
    /// Requests per second a client address may send without a valid key (each one a `401`),
    /// and how many at once above that; beyond, its requests are refused before any key lookup.
    pub refused_rate_limit: RateLimit,
}

/// A token bucket: `per_second` on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout: Duration::from_secs(10),
            max_requests_in_flight: 1024,
            // Generous: a benchmark client on the same machine sends a few thousand a second.
            rate_limit: RateLimit {
                per_second: 10_000,
                burst: 20_000,
            },
            // A client that lost its key retries a few times; one that guesses keys is stopped.
            refused_rate_limit: RateLimit {
                per_second: 5,
                burst: 50,
            },
        }
    }
}

/// The complete application: documented routes, Swagger UI, the explorer, and the middleware
/// stack.
///
/// At most `max_requests_in_flight` requests are served at once, across all routes; one more
/// is answered `503 overloaded` with `Retry-After` at once rather than queued. A queue without
/// a bound would only grow under overload, and its requests would time out after waiting
/// anyway; a prompt 503 tells the client (or its load balancer) to go elsewhere or come back.
///
/// The layers run in this order, so that a request the server has no room for costs no
/// database work: request id and trace, metrics, problem bodies; load shedding, the limit of
/// requests in flight, the deadline; authentication (one key lookup); the caller's rate limit;
/// the opening of personal data in answers; idempotency fingerprints and the body limit. (A command's `Content-Type` is checked once it
/// is routed, by [`idempotency::CommandRequest`], so that other methods still get their `405`.)
pub fn router(mut state: AppState, settings: HttpSettings) -> Router {
    let HttpSettings {
        request_timeout,
        max_requests_in_flight,
        rate_limit,
        refused_rate_limit,
    } = settings;
    state.limits = rate_limit::RateLimits::new(rate_limit, refused_rate_limit);
    let (routes, api) = api_router().split_for_parts();
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuidV7))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-");
            // The route template groups a route's requests in a log search, whatever the ids.
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", method = %request.method(), uri = %request.uri(), route, request_id)
        })
        // Numbers as fields, not text: a log collector can filter on them (`status >= 500`).
        .on_response(|response: &Response, latency: Duration, _: &tracing::Span| {
            tracing::info!(
                status = response.status().as_u16(),
                latency_ms = latency.as_secs_f64() * 1_000.0,
                "request answered"
            );
        })
        // A 5xx here is a documented answer (503 while the database or a read model is behind);
        // causes of real failures are logged at ERROR where they happen, with their sources.
        .on_failure(DefaultOnFailure::new().level(Level::WARN)))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .layer(axum::middleware::map_response(problem::ensure_problem_body))
        .layer(HandleErrorLayer::new(shed))
        .layer(LoadShedLayer::new())
        // Global: `Router::layer` wraps each route on its own, and they must share the permits.
        .layer(GlobalConcurrencyLimitLayer::new(max_requests_in_flight))
        .layer(axum::middleware::from_fn_with_state(request_timeout, deadline))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(axum::middleware::from_fn_with_state(
            state.limits.clone(),
            rate_limit::RateLimits::per_caller,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.keyring.clone(),
            personal::open_responses,
        ))
        .layer(axum::middleware::from_fn(idempotency::fingerprint_keyed_requests))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES));

    routes
        .merge(
            SwaggerUi::new("/swagger-ui")
                .external_url_unchecked("/api-docs/openapi.json", openapi::document(&api)),
        )
        .merge(explorer::router())
        .fallback(|| async {
            ApiError::Status(StatusCode::NOT_FOUND, "no such route".into()).into_response()
        })
        .with_state(state)
        .layer(middleware)
}

/// Renders what the load-shedding layers refuse: a request over the limit of requests in
/// flight is `503 overloaded`. (Those layers fail in no other way.)
async fn shed(error: BoxError) -> Response {
    if error.is::<Overloaded>() {
        ApiError::Overloaded.into_response()
    } else {
        ApiError::Internal(error).into_response()
    }
}

/// Set once a command's handler runs: from then on its write may be in the event store's hands.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommandStarted(Arc<AtomicBool>);

impl CommandStarted {
    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_marked(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Answers a request that takes longer than `timeout` without waiting further.
///
/// A query, or a command that never reached its handler (its key lookup hung, say), is
/// `408`: it wrote nothing. A command whose handler ran may already be in the event store's
/// hands and commit after this answer, so it is `outcome-unknown`, which tells the client to
/// send it again with its `Idempotency-Key` (safe) instead of inviting a blind retry (which could
/// move money twice).
async fn deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = CommandStarted::default();
    request.extensions_mut().insert(started.clone());
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) if started.is_marked() => ApiError::OutcomeUnknown.into_response(),
        Err(_) => ApiError::Status(
            StatusCode::REQUEST_TIMEOUT,
            "the request took too long; nothing was written".into(),
        )
        .into_response(),
    }
}

/// Request ids are UUIDv7, like every other id here: unique and ordered by time.
#[derive(Debug, Clone, Copy)]
struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        uuid::Uuid::now_v7().to_string().parse().ok().map(RequestId::new)
    }
}
