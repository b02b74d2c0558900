//! `GET /accounts/{id}/events`: the audit trail, straight from the event log.
//!
//! No read model is involved: this is what the log stores, envelope and payload, in version
//! order, a page at a time (an account's history has no upper bound).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::domain::ids::AccountId;
use crate::http::AppState;
use crate::http::auth::ensure_visible;
use crate::http::extract::{PathParam, QueryParams};
use crate::http::problem::{ApiError, PROBLEM_JSON, Problem};
use crate::http::reads::{page_size, version_cursor};
use crate::http::responses::StorageProblems;
use crate::store::chain::LinkedEvent;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(account_events))
}

/// One stored event: an item of the audit trail and of the event feed (`/events`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "event_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a13",
    "position": 42,
    "stream_type": "account",
    "stream_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a10",
    "version": 2,
    "type": "MoneyDeposited",
    "schema_version": 1,
    "data": {
        "transaction_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a12",
        "amount": 2500,
        "currency": "EUR",
        "description": "salary",
        "occurred_at": "2026-11-27T09:30:00Z"
    },
    "metadata": {
        "correlation_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a14",
        "causation_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a15",
        "command": "Deposit",
        "key_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a16"
    },
    "occurred_at": "2026-11-27T09:30:00Z",
    "recorded_at": "2026-11-27T09:30:00.001Z",
    "hash": "5f0c3d1e9a7b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6ce1"
}))]
pub struct EventResponse {
    pub event_id: Uuid,
    /// Position in the global log.
    pub position: i64,
    /// The kind of stream the event belongs to: `account`, or `transfer` (a transfer's own
    /// record of what was decided).
    pub stream_type: String,
    /// The stream's id: the account id, or the transfer id.
    pub stream_id: Uuid,
    /// Version of the stream after this event.
    pub version: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub schema_version: i32,
    /// The event's payload as stored.
    #[schema(value_type = Object)]
    pub data: Value,
    /// `correlation_id` (the request id), `causation_id` (the command id), `command`, and
    /// `key_id`: the API key that sent the command (`null` without one, in development mode;
    /// never the key itself).
    #[schema(value_type = Object)]
    pub metadata: Value,
    /// Business time of the fact.
    pub occurred_at: DateTime<Utc>,
    /// When the log stored it.
    pub recorded_at: DateTime<Utc>,
    /// The event's link in the log's hash chain: SHA-256 of the previous event's link and this
    /// event's canonical bytes, as 64 lowercase hex digits (see "Tamper evidence" in
    /// docs/operating.md). `null` for an event not linked yet (appended around the service).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: Option<String>,
}

impl From<LinkedEvent> for EventResponse {
    fn from(LinkedEvent { event, link }: LinkedEvent) -> Self {
        EventResponse {
            event_id: event.event_id,
            position: event.global_position,
            stream_type: event.stream_type,
            stream_id: event.stream_id,
            version: event.stream_version,
            event_type: event.event_type,
            schema_version: event.schema_version,
            data: event.payload,
            metadata: event.metadata,
            occurred_at: event.occurred_at,
            recorded_at: event.recorded_at,
            hash: link.map(|link| link.to_hex()),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventsResponse {
    pub account_id: Uuid,
    /// In version order, oldest first.
    pub events: Vec<EventResponse>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/accounts/{id}/events",
    tag = "accounts",
    summary = "The account's audit trail",
    description = "The events of the account's stream, as stored in the append-only log, oldest \
        first; keyset-paginated (follow `next_cursor`).",
    params(("id" = Uuid, Path, description = "Account id"), EventParams),
    responses(
        (status = 200, description = "A page of events, oldest first", body = EventsResponse),
        (status = 400, description = "Malformed account id (`malformed-request`), or invalid `limit` or `cursor` (`validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such account (`account-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        StorageProblems,
    )
)]
#[tracing::instrument(skip_all, fields(account_id = %id))]
pub(crate) async fn account_events(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
    QueryParams(params): QueryParams<EventParams>,
) -> Result<Json<EventsResponse>, ApiError> {
    ensure_visible(&app, caller, AccountId(id)).await?;
    let limit = page_size(params.limit)?;
    let after = version_cursor(params.cursor.as_deref())?;
    let page = app
        .log
        .page(id, after, limit)
        .await?
        .ok_or(ApiError::AccountNotFound(AccountId(id)))?;
    Ok(Json(EventsResponse {
        account_id: id,
        events: page.events.into_iter().map(EventResponse::from).collect(),
        next_cursor: page.next.map(|version| version.to_string()),
    }))
}
