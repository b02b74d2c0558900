//! Health checks for load balancers and orchestrators, all public:
//! - `GET /health/live`: the process answers (touches nothing: restart it if this fails);
//! - `GET /health/ready`: it may take traffic ([`crate::readiness`]: database, migrations,
//!   followers within the allowed lag), or `503 not-ready` saying why;
//! - `GET /health`: it can read its event log (kept for existing probes).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::problem::{ApiError, PROBLEM_JSON, Problem};
use crate::http::responses::StorageProblems;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(live))
        .routes(routes!(ready))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "status": "ok" }))]
pub struct Live {
    /// Always `ok`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "status": "ready", "head": 42 }))]
pub struct Ready {
    /// Always `ready` in a 200 answer.
    pub status: String,
    /// The position of the last event in the log.
    pub head: i64,
}

#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    summary = "Liveness",
    description = "200 whenever the process answers HTTP; it reads nothing, so a database         outage does not make an orchestrator restart the service. Needs no API key.",
    security(()),
    responses((status = 200, description = "The process answers", body = Live))
)]
pub(crate) async fn live() -> Json<Live> {
    Json(Live { status: "ok".into() })
}

#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    summary = "Readiness",
    description = "200 when the service may take traffic: the database answers, it holds every         migration of this build, and every follower of the log (each read model, the transfer         process manager) is within `--ready-max-lag` events of its head. Otherwise 503         `not-ready`, whose `detail` names the reason (which follower is how far behind), with         `reason` and, for lagging followers, `followers` as extension members. Needs no API key.",
    security(()),
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "Not ready (`not-ready`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn ready(State(app): State<AppState>) -> Result<Json<Ready>, ApiError> {
    let ready = app.readiness.check().await.map_err(ApiError::NotReady)?;
    Ok(Json(Ready {
        status: "ready".into(),
        head: ready.head,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "status": "ok", "database": "postgres", "head": 42 }))]
pub struct Health {
    /// Always `ok` in a 200 answer.
    pub status: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The position of the last event in the log.
    pub head: i64,
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    summary = "Health check",
    description = "200 when the service can read its event log, 503 problem otherwise. Needs \
        no API key.",
    security(()),
    responses(
        (status = 200, description = "Healthy", body = Health),
        StorageProblems,
    )
)]
pub(crate) async fn health(State(app): State<AppState>) -> Result<Json<Health>, ApiError> {
    let head = app.log.head().await?;
    Ok(Json(Health {
        status: "ok".into(),
        database: app.backend.to_string(),
        head,
    }))
}
