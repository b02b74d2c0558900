//! `GET /events`: the whole event log, a page at a time, for other services to follow.
//!
//! Pages are keyed by global position (`after`), not by offset: a reader keeps the position of
//! the last event it handled and asks for the events after it. Positions are gap-free and a
//! position becomes visible only after every smaller one (see [`crate::store`]: appends commit
//! one at a time, in position order), so a reader that pages by position never misses an event
//! that commits late, and never sees one twice. The same items, live, come from
//! [`feed_stream`](crate::http::feed_stream). Operator keys only: the feed shows every account.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::http::AppState;
use crate::http::auth::require_operator;
use crate::http::events::EventResponse;
use crate::http::extract::QueryParams;
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::reads::page_size;
use crate::http::responses::{OperatorOnly, StorageProblems};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(feed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The events after this global position (default 0: from the first event). Pass the
    /// position of the last event you handled, or `next_after` of the previous page.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeedPage {
    /// In global position order, oldest first.
    pub events: Vec<EventResponse>,
    /// Present when more events followed this page when it was read: pass it as `after` for
    /// the next page (the `Link: <...>; rel="next"` header says the same). Absent at the end of
    /// the log as it was then; to follow the log, ask again later after the last position seen.
    pub next_after: Option<i64>,
}

/// Checks `after` against `0..`, defaulting to 0.
pub(crate) fn position_after(after: Option<i64>) -> Result<i64, ApiError> {
    match after {
        None => Ok(0),
        Some(after) if after >= 0 => Ok(after),
        Some(_) => Err(InvalidParam::new("after", "must be 0 or more").into()),
    }
}

#[utoipa::path(
    get,
    path = "/events",
    tag = "feed",
    summary = "The event log, paged by position",
    description = "Every event of every stream, in global position order, oldest first, keyset-\
        paginated by position: pass the position of the last event you handled as `after`. \
        Positions are gap-free and become visible in order, so a reader that pages this way \
        never misses an event and never sees one twice. Needs an operator key.",
    params(FeedParams),
    responses(
        (status = 200, description = "A page of events, oldest first", body = FeedPage,
            headers(("Link" = String, description = "`</events?after=<position>&limit=<n>>; rel=\"next\"` when more events follow"))),
        (status = 400, description = "`after` or `limit` not an integer (`malformed-request`) or out of range (`validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
        StorageProblems,
        OperatorOnly,
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn feed(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<FeedParams>,
) -> Result<Response, ApiError> {
    require_operator(caller)?;
    let after = position_after(params.after)?;
    let limit = page_size(params.limit)?;
    let page = app.log.page_after(after, limit).await?;
    let link = page
        .next
        .map(|next| format!("</events?after={next}&limit={limit}>; rel=\"next\""));
    let mut response = Json(FeedPage {
        events: page.events.into_iter().map(EventResponse::from).collect(),
        next_after: page.next,
    })
    .into_response();
    if let Some(link) = link.and_then(|link| HeaderValue::from_str(&link).ok()) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}
