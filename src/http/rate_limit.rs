//! A request rate per caller (OWASP API4, unrestricted resource consumption): a token bucket
//! per API key, or per client address for requests without one, with `tower_governor` (GCRA).
//!
//! Over the limit a request is answered `429 too-many-requests` with `Retry-After`, before a
//! handler runs. The bucket is chosen after authentication, by the key that checked out: a
//! client cannot spend another caller's allowance by naming that caller's key id. (A request
//! whose key is refused is answered `401` before it gets here; refusing it costs one lookup by
//! primary key, and the limit of requests in flight bounds how many run at once.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use governor::middleware::NoOpMiddleware;
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;

use crate::auth::Caller;
use crate::http::RateLimit;
use crate::http::problem::ApiError;

/// Whose bucket a request takes from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallerKey;

impl KeyExtractor for CallerKey {
    type Key = String;

    fn extract<T>(&self, request: &Request<T>) -> Result<Self::Key, GovernorError> {
        if let Some(key_id) = request
            .extensions()
            .get::<Caller>()
            .and_then(|caller| caller.key_id())
        {
            return Ok(format!("key {key_id}"));
        }
        Ok(match request.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(peer)) => format!("address {}", peer.ip()),
            // In-process requests (tests) have no peer.
            None => "local".to_owned(),
        })
    }
}

/// The rate limit layer for `limit`.
pub(crate) fn layer(limit: RateLimit) -> GovernorLayer<CallerKey, NoOpMiddleware, Body> {
    let period = Duration::from_nanos(1_000_000_000 / u64::from(limit.per_second.max(1)));
    let config = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(limit.burst.max(1))
        .key_extractor(CallerKey)
        .finish()
        // `finish` refuses only a zero period or burst, which the lines above rule out.
        .expect("a period and a burst of at least one are valid");
    let layer = GovernorLayer::new(Arc::new(config));
    layer.error_handler(refused)
}

fn refused(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => ApiError::RateLimited {
            retry_after_seconds: wait_time,
        }
        .into_response(),
        other => ApiError::Internal(Box::new(other)).into_response(),
    }
}
