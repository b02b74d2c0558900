//! A response recorded for an `Idempotency-Key`, as HTTP: the first answer, and the same
//! answer again (marked `Idempotent-Replayed: true`) to a request sent again with its key.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::RecordedResponse;

/// Marks an answer given again from the record, not decided anew.
pub(crate) const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The response a recorded answer describes.
pub(crate) fn respond(recorded: &RecordedResponse) -> Response {
    let status = u16::try_from(recorded.status)
        .ok()
        .and_then(|status| StatusCode::from_u16(status).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, axum::Json(&recorded.body)).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ETAG, &recorded.etag),
        (header::LOCATION, &recorded.location),
    ] {
        if let Some(value) = value
            .as_deref()
            .and_then(|value| HeaderValue::from_str(value).ok())
        {
            headers.insert(name, value);
        }
    }
    response
}

/// The recorded answer to a request sent again with its key.
pub(crate) fn replay(recorded: &RecordedResponse) -> Response {
    let mut response = respond(recorded);
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}
