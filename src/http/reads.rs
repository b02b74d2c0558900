//! What every query endpoint shares: `min_position` (read-your-writes), the
//! `X-Projection-Position` header, and page-size limits.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

use crate::app::AppState;
use crate::http::problem::{ApiError, InvalidParam};

pub(crate) const PROJECTION_POSITION: HeaderName = HeaderName::from_static("x-projection-position");

pub(crate) const DEFAULT_PAGE_SIZE: i64 = 50;
pub(crate) const MAX_PAGE_SIZE: i64 = 500;

/// Waits until the read models in `names` reflect `min_position`; 503 if they do not within
/// the configured bound.
pub(crate) async fn await_position(
    app: &AppState,
    names: &[&str],
    min_position: Option<i64>,
) -> Result<(), ApiError> {
    let Some(position) = min_position else {
        return Ok(());
    };
    if position < 0 {
        return Err(invalid("min_position", "must be 0 or more"));
    }
    app.projections
        .wait_for(names, position, app.read_wait)
        .await
        .map_err(ApiError::ProjectionBehind)
}

/// Adds `X-Projection-Position: <checkpoint>`.
pub(crate) fn with_projection_position(mut response: Response, position: i64) -> Response {
    response
        .headers_mut()
        .insert(PROJECTION_POSITION, HeaderValue::from(position));
    response
}

/// Checks `limit` against `1..=500`, defaulting to 50.
pub(crate) fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        Some(_) => Err(invalid(
            "limit",
            &format!("must be between 1 and {MAX_PAGE_SIZE}"),
        )),
    }
}

pub(crate) fn invalid(name: &str, reason: &str) -> ApiError {
    ApiError::Validation(vec![InvalidParam {
        name: name.to_owned(),
        reason: reason.to_owned(),
    }])
}
