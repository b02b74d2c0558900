//! `GET /projections`: how far each read model is behind the log, and why if it is stuck; and
//! `POST /projections/{name}/pause` and `/resume`: an operator holds a read model where it is
//! (for maintenance, or to watch eventual consistency: reads go on, stale, and a `min_position`
//! read waits), in every process at once (see `crate::follow::checkpoint`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use std::str::FromStr;

use crate::auth::Caller;
use crate::follow::parking::ParkedEvent;
use crate::follow::{FollowerState, StoredCheckpoint};
use crate::http::AppState;
use crate::http::accounts::EmptyRequest;
use crate::http::auth::require_operator;
use crate::http::extract::{OptionalJsonBody, PathParam, require_json};
use crate::http::problem::ApiError;
use crate::http::responses::{OperatorOnly, ProjectionProblems, StorageProblems};
use crate::projection::ProjectionName;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(projections))
        .routes(routes!(pause))
        .routes(routes!(resume))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "account_balances",
    "checkpoint": 40,
    "head": 42,
    "lag_events": 2,
    "lag_ms": 15,
    "last_error": null,
    "last_error_at": null,
    "paused_at": null,
    "parked": []
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
    /// When an operator paused it (`POST /projections/{name}/pause`); `null` while it runs.
    pub paused_at: Option<DateTime<Utc>>,
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
    let status = Status::read(&app).await?;
    let mut views = Vec::new();
    for state in app.followers.states() {
        views.push(status.view(&app, state).await?);
    }
    Ok(Json(ProjectionsView {
        head: status.head,
        projections: views,
    }))
}

/// What the views of the followers are made from, read once.
struct Status {
    head: i64,
    stored: Vec<StoredCheckpoint>,
    parked: Vec<ParkedEvent>,
    now: DateTime<Utc>,
}

impl Status {
    async fn read(app: &AppState) -> Result<Status, ApiError> {
        Ok(Status {
            head: app.log.head().await?,
            stored: app.read_models.checkpoints().await?,
            parked: app.read_models.parked_events().await?,
            now: Utc::now(),
        })
    }

    /// One follower's view: its stored checkpoint (another process may lead it), this
    /// process's last error, its parked events.
    async fn view(&self, app: &AppState, state: FollowerState) -> Result<ProjectionView, ApiError> {
        let stored = self.stored.iter().find(|stored| stored.name == state.name);
        let checkpoint = stored.map_or(state.checkpoint, |stored| stored.position);
        let lag_ms = if checkpoint < self.head {
            app.log
                .recorded_at_after(checkpoint)
                .await?
                .map_or(0, |recorded_at| {
                    (self.now - recorded_at).num_milliseconds().max(0)
                })
        } else {
            0
        };
        Ok(ProjectionView {
            name: state.name.to_owned(),
            checkpoint,
            head: self.head,
            lag_events: (self.head - checkpoint).max(0),
            lag_ms,
            last_error: state.last_error,
            last_error_at: state.last_error_at,
            paused_at: stored.and_then(|stored| stored.paused_at),
            parked: self
                .parked
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
        })
    }
}

#[utoipa::path(
    post,
    path = "/projections/{name}/pause",
    tag = "operations",
    summary = "Pause a read model",
    description = "Holds the read model where it is, in every process sharing the database: \
        from this answer on its checkpoint moves no more (the pause rides on the checkpoint's \
        compare-and-set, so whichever process leads it stops at once). Queries go on reading \
        it as it was, and a query with a `min_position` it has not reached waits, then answers \
        `503 projection-behind`: eventual consistency made visible. For maintenance too. \
        Pausing `account_holds` also holds back hold expiries, whose scheduler reads the due \
        holds from it. \
        Pausing a paused read model keeps its first `paused_at`. The body is `{}` (or empty), \
        as `application/json`. Operators only.",
    params(("name" = String, Path, description = "A read model: `account_balances`, `account_transactions`, `transfers`, `ledger_totals` or `account_holds`")),
    request_body(content = EmptyRequest, description = "`{}` (an empty body or `null` mean the same; either way `Content-Type: application/json`)"),
    responses(
        (status = 200, description = "Paused: its status", body = ProjectionView),
        ProjectionProblems,
    )
)]
pub(crate) async fn pause(
    State(app): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    PathParam(name): PathParam<String>,
    OptionalJsonBody(EmptyRequest {}): OptionalJsonBody<EmptyRequest>,
) -> Result<Json<ProjectionView>, ApiError> {
    set_paused(&app, caller, &headers, &name, Some(Utc::now())).await
}

#[utoipa::path(
    post,
    path = "/projections/{name}/resume",
    tag = "operations",
    summary = "Resume a paused read model",
    description = "Lets the read model move on from where it was paused: its leader takes up the \
        log from its checkpoint within a poll interval (at once on the next append), and the \
        queries waiting on `min_position` are answered as it reaches them. Resuming a running \
        read model does nothing. The body is `{}` (or empty), as `application/json`. Operators \
        only.",
    params(("name" = String, Path, description = "A read model: `account_balances`, `account_transactions`, `transfers`, `ledger_totals` or `account_holds`")),
    request_body(content = EmptyRequest, description = "`{}` (an empty body or `null` mean the same; either way `Content-Type: application/json`)"),
    responses(
        (status = 200, description = "Running: its status", body = ProjectionView),
        ProjectionProblems,
    )
)]
pub(crate) async fn resume(
    State(app): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    PathParam(name): PathParam<String>,
    OptionalJsonBody(EmptyRequest {}): OptionalJsonBody<EmptyRequest>,
) -> Result<Json<ProjectionView>, ApiError> {
    set_paused(&app, caller, &headers, &name, None).await
}

/// Pauses (`Some(at)`) or resumes (`None`) the read model `name`, and answers its status.
async fn set_paused(
    app: &AppState,
    caller: Caller,
    headers: &axum::http::HeaderMap,
    name: &str,
    at: Option<DateTime<Utc>>,
) -> Result<Json<ProjectionView>, ApiError> {
    require_operator(caller)?;
    require_json(headers)?;
    let projection =
        ProjectionName::from_str(name).map_err(|_| ApiError::ProjectionNotFound(name.to_owned()))?;
    app.read_models.set_paused(projection, at).await?;
    tracing::info!(
        projection = name,
        paused = at.is_some(),
        "a read model was paused or resumed"
    );
    let state = app
        .followers
        .states()
        .into_iter()
        .find(|state| state.name == projection.as_str())
        .ok_or_else(|| ApiError::ProjectionNotFound(name.to_owned()))?;
    Ok(Json(Status::read(app).await?.view(app, state).await?))
}
