//! What every query endpoint shares: `min_position` (read-your-writes), the
//! `X-Projection-Position` header, page-size limits and page cursors.

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::http::AppState;
use crate::http::problem::{ApiError, InvalidParam};
use crate::projection::Reads;

pub(crate) const PROJECTION_POSITION: HeaderName = HeaderName::from_static("x-projection-position");

pub(crate) const DEFAULT_PAGE_SIZE: i64 = 50;
pub(crate) const MAX_PAGE_SIZE: i64 = 500;

/// Waits until the read models in `names` reflect `min_position`; 503 if they do not within
/// the configured bound, 400 at once if the log itself has not reached it.
pub(crate) async fn await_position(
    app: &AppState,
    reads: Reads,
    min_position: Option<i64>,
) -> Result<(), ApiError> {
    let Some(position) = min_position else {
        return Ok(());
    };
    if position < 0 {
        return Err(InvalidParam::new("min_position", "must be 0 or more").into());
    }
    let names: Vec<&str> = reads.read_models().iter().map(|name| name.as_str()).collect();
    let reached = names
        .iter()
        .all(|name| app.followers.checkpoint(name) >= position);
    if !reached {
        // A position the log has not reached is no write of the client's: waiting cannot meet
        // it, so it is answered at once instead of holding a request slot for the whole wait.
        let head = app.log.head().await?;
        if position > head {
            return Err(ApiError::PositionBeyondHead {
                wanted: position,
                head,
            });
        }
    }
    app.followers
        .wait_for(&names, position, app.read_wait)
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
        Some(_) => {
            Err(InvalidParam::new("limit", format_args!("must be between 1 and {MAX_PAGE_SIZE}")).into())
        }
    }
}

/// Parses a `cursor` that holds a global position (pages ordered by position, newest first).
pub(crate) fn position_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    parse_cursor(cursor, |cursor| {
        cursor.parse::<i64>().ok().filter(|position| *position > 0)
    })
}

/// Parses a `cursor` that holds a stream version (one stream's events, oldest first).
pub(crate) fn version_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    parse_cursor(cursor, |cursor| {
        cursor.parse::<i64>().ok().filter(|version| *version > 0)
    })
}

/// Parses a `cursor` that holds an id (pages ordered by id).
pub(crate) fn id_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    parse_cursor(cursor, |cursor| Uuid::parse_str(cursor).ok())
}

fn parse_cursor<T>(
    cursor: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    cursor
        .map(|cursor| {
            parse(cursor).ok_or_else(|| InvalidParam::new("cursor", "not a cursor from this API").into())
        })
        .transpose()
}

/// Checks that a query instant lies within years 0 to 9999: what RFC 3339 can write and both
/// databases store. (chrono parses years up to ±262143; PostgreSQL refuses those before 4713
/// BC, and SQLite's text timestamps only sort correctly with four-digit years.)
pub(crate) fn instant(name: &str, at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match at {
        Some(at) if !(0..=9999).contains(&at.year()) => {
            Err(InvalidParam::new(name, "must be between years 0000 and 9999").into())
        }
        at => Ok(at),
    }
}
