//! `GET /chain`: the signed checkpoints of the log's hash chain, for auditors to keep
//! elsewhere and to check with `foldbank verify --chain --public-key`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::http::AppState;
use crate::http::auth::require_operator;
use crate::http::extract::QueryParams;
use crate::http::feed::position_after;
use crate::http::problem::{ApiError, PROBLEM_JSON, Problem};
use crate::http::reads::page_size;
use crate::http::responses::{OperatorOnly, StorageProblems};
use crate::store::chain::checkpoint::{ALGORITHM, Checkpoint};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(chain))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChainParams {
    /// The checkpoints after this position (default 0: from the first). Pass `next_after` of
    /// the previous page.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A signed checkpoint of the chain's head.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "position": 10000,
    "hash": "5f0c3d1e9a7b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6ce1",
    "signature": "q3v1m2VvZ0x3b2xQd0hJd1R2eXh0c2F2c2F2c2F2c2F2c2F2c2F2c2F2c2F2c2F2c2F2c2F2c2F2c2F2cw==",
    "signed_at": "2026-12-06T10:00:00.123456Z"
}))]
pub struct CheckpointResponse {
    /// The position of the event whose link was signed.
    pub position: i64,
    /// That event's link, 64 lowercase hex digits (the `hash` of the event in `GET /events`).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub hash: String,
    /// Ed25519 signature, base64 of 64 bytes, over the ASCII bytes
    /// `foldbank-chain:v1:{position}:{hash}`.
    pub signature: String,
    /// When it was signed (not itself signed).
    pub signed_at: DateTime<Utc>,
}

impl From<Checkpoint> for CheckpointResponse {
    fn from(checkpoint: Checkpoint) -> Self {
        CheckpointResponse {
            position: checkpoint.position,
            hash: checkpoint.hash,
            signature: checkpoint.signature,
            signed_at: checkpoint.signed_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChainResponse {
    /// Always `ed25519`.
    #[schema(example = "ed25519")]
    pub algorithm: &'static str,
    /// The public key of this service's signing key, base64 of its raw 32 bytes; `null` when
    /// it signs nothing (no `--signing-key-file`).
    pub public_key: Option<String>,
    /// In position order, newest last.
    pub checkpoints: Vec<CheckpointResponse>,
    /// Present when more checkpoints followed this page: pass it as `after`.
    pub next_after: Option<i64>,
    /// The position of the newest checkpoint, whatever the page: every event up to it is
    /// covered by a signature. `null` before the first.
    pub signed_up_to: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/chain",
    tag = "feed",
    summary = "Signed checkpoints of the hash chain",
    description = "The checkpoints the service signed of its log's hash chain, oldest first, \
        keyset-paginated by position, and the public key to check them with. Keep them \
        somewhere the database's writers cannot reach: `foldbank verify --chain --public-key` \
        then shows any rewrite of the log before a checkpoint, or the removal of events after \
        it. Needs an operator key.",
    params(ChainParams),
    responses(
        (status = 200, description = "A page of checkpoints, newest last", body = ChainResponse),
        (status = 400, description = "`after` or `limit` not an integer (`malformed-request`) or out of range (`validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
        StorageProblems,
        OperatorOnly,
    )
)]
#[tracing::instrument(skip_all)]
pub(crate) async fn chain(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<ChainParams>,
) -> Result<Json<ChainResponse>, ApiError> {
    require_operator(caller)?;
    let after = position_after(params.after)?;
    let limit = page_size(params.limit)?;
    let page = app.log.checkpoints(after, limit).await?;
    let newest = app.log.newest_checkpoint().await?;
    Ok(Json(ChainResponse {
        algorithm: ALGORITHM,
        public_key: app.chain_key.map(|key| key.to_base64()),
        checkpoints: page
            .checkpoints
            .into_iter()
            .map(CheckpointResponse::from)
            .collect(),
        next_after: page.next,
        signed_up_to: newest.map(|checkpoint| checkpoint.position),
    }))
}
