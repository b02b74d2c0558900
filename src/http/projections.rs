//! `GET /projections`: how far each read model is behind the log, and why if it is stuck.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::AppState;
use crate::http::auth::require_operator;
use crate::http::problem::ApiError;
use crate::http::responses::{OperatorOnly, StorageProblems};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(projections))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "account_balances",
    "checkpoint": 40,
    "head": 42,
    "lag_events": 2,
    "lag_ms": 15,
    "last_error": null,
    "last_error_at": null
}))]
pub struct ProjectionView {
    pub name: String,
    /// The global position this projection has applied up to.
    pub checkpoint: i64,
    /// The position of the last event in the log.
    pub head: i64,
    /// `head - checkpoint`.
    pub lag_events: i64,
    /// How long the oldest unapplied event has been waiting, in milliseconds (0 when caught up).
    pub lag_ms: i64,
    /// The last error of this process's projector, until a batch succeeds again.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Events this follower could not handle after several tries and set aside to move on;
    /// `foldbank parked retry|skip` decides what becomes of them.
    pub parked: Vec<ParkedView>,
}

/// An event a follower parked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkedView {
    pub position: i64,
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The last failure, with its causes.
    pub error: String,
    pub attempts: i32,
    /// An operator asked to handle it again.
    pub retry_requested: bool,
    pub parked_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionsView {
    pub head: i64,
    pub projections: Vec<ProjectionView>,
}

#[utoipa::path(
    get,
    path = "/projections",
    tag = "operations",
    summary = "Projection status",
    description = "Per follower of the log (each read model and the transfer process manager): \
        its checkpoint, the head of the log, the lag in events and in milliseconds, the last \
        error, and the events it parked.",
    responses(
        (status = 200, description = "Status of every projection", body = ProjectionsView),
        StorageProblems,
        OperatorOnly,
    )
)]
pub(crate) async fn projections(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<ProjectionsView>, ApiError> {
    require_operator(caller)?;
    let head = app.log.head().await?;
    let stored = app.read_models.checkpoints().await?;
    let parked = app.read_models.parked_events().await?;
    let now = Utc::now();
    let mut views = Vec::new();
    for state in app.followers.states() {
        let checkpoint = stored
            .iter()
            .find(|(name, _)| name == state.name)
            .map_or(state.checkpoint, |(_, position)| *position);
        let lag_ms = if checkpoint < head {
            app.log
                .recorded_at_after(checkpoint)
                .await?
                .map_or(0, |recorded_at| (now - recorded_at).num_milliseconds().max(0))
        } else {
            0
        };
        views.push(ProjectionView {
            name: state.name.to_owned(),
            checkpoint,
            head,
            lag_events: (head - checkpoint).max(0),
            lag_ms,
            last_error: state.last_error,
            last_error_at: state.last_error_at,
            parked: parked
                .iter()
                .filter(|event| event.follower == state.name)
                .cloned()
                .map(|event| ParkedView {
                    position: event.position,
                    event_id: event.event_id,
                    event_type: event.event_type,
                    error: event.error,
                    attempts: event.attempts,
                    retry_requested: event.retry_requested,
                    parked_at: event.parked_at,
                })
                .collect(),
        });
    }
    Ok(Json(ProjectionsView {
        head,
        projections: views,
    }))
}
