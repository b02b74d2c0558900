//! `GET /health`: is the service up and can it reach its database? For load balancers and the
//! container `HEALTHCHECK`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::http::responses::StorageProblems;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
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
