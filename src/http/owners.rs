//! `/owners/{owner_id}`: one owner's accounts in sum (see [`crate::projection::balances::owners`]),
//! and the erasure of the owner's personal data (see [`crate::privacy`]).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::http::AppState;
use crate::http::accounts::EmptyRequest;
use crate::http::auth::require_operator;
use crate::http::extract::{OptionalJsonBody, PathParam, QueryParams, require_json};
use crate::http::problem::{ApiError, PROBLEM_JSON, Problem};
use crate::http::reads::{read, with_projection_position};
use crate::http::responses::{OperatorOnly, QueryProblems, StorageProblems};
use crate::http::schema;
use crate::http::transfers::ReadParams;
use crate::projection::{CurrencyBalance, OwnerSummary, Reads};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(owner_summary))
        .routes(routes!(erase_owner))
}

/// One owner's accounts: how many in each status, and the balance in each currency.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "owner_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a10",
    "accounts": { "active": 2, "frozen": 0, "closed": 1 },
    "balances": [{ "currency": "EUR", "accounts": 3, "balance": 12500, "balance_exact": "12500" }],
    "position": 120
}))]
pub struct OwnerSummaryView {
    pub owner_id: Uuid,
    pub accounts: AccountCounts,
    /// By currency code.
    pub balances: Vec<CurrencyBalanceView>,
    /// The log position the figures reflect.
    pub position: i64,
}

/// How many of the owner's accounts are in each status.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountCounts {
    pub active: u64,
    pub frozen: u64,
    pub closed: u64,
}

/// The sum of the owner's balances in one currency, in minor units.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyBalanceView {
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    /// How many of the owner's accounts hold this currency.
    pub accounts: u64,
    /// `null` when the sum does not fit a signed 64-bit integer (see `balance_exact`).
    #[schema(required = true)]
    pub balance: Option<i64>,
    /// `balance` as a decimal string, exact at any size.
    #[schema(pattern = "^-?[0-9]+$")]
    pub balance_exact: String,
}

impl From<CurrencyBalance> for CurrencyBalanceView {
    fn from(sum: CurrencyBalance) -> Self {
        CurrencyBalanceView {
            currency: sum.currency,
            accounts: sum.accounts,
            balance: i64::try_from(sum.balance).ok(),
            balance_exact: sum.balance.to_string(),
        }
    }
}

impl OwnerSummaryView {
    fn new(owner_id: Uuid, summary: OwnerSummary, position: i64) -> Self {
        OwnerSummaryView {
            owner_id,
            accounts: AccountCounts {
                active: summary.active,
                frozen: summary.frozen,
                closed: summary.closed,
            },
            balances: summary.balances.into_iter().map(Into::into).collect(),
            position,
        }
    }
}

#[utoipa::path(
    get,
    path = "/owners/{owner_id}/summary",
    tag = "queries",
    summary = "One owner's accounts in sum",
    description = "How many of the owner's accounts are active, frozen and closed, and the sum \
        of their balances in each currency (exact at any size in `balance_exact`), read from the \
        `account_balances` read model with the position it reflects. A customer key sees its own \
        owner's summary only; another owner's, like an owner with no account, is \
        `404 owner-not-found`.",
    params(("owner_id" = Uuid, Path, description = "The owner"), ReadParams),
    responses(
        (status = 200, description = "The owner's summary", body = OwnerSummaryView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        QueryProblems,
        (status = 404, description = "No account of this owner, or not one this key may see \
            (`owner-not-found`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn owner_summary(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(owner_id): PathParam<Uuid>,
    QueryParams(params): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    // Another owner's summary is answered as that of an owner without accounts.
    if caller.owner().is_some_and(|own| own.as_uuid() != owner_id) {
        return Err(ApiError::OwnerNotFound(owner_id));
    }
    let snapshot = read(
        &app,
        Reads::Accounts,
        params.min_position,
        move |models| async move { models.owner_summary(owner_id).await },
    )
    .await?;
    let summary = snapshot.value.ok_or(ApiError::OwnerNotFound(owner_id))?;
    Ok(with_projection_position(
        axum::Json(OwnerSummaryView::new(owner_id, summary, snapshot.position)).into_response(),
        snapshot.position,
    ))
}

/// What an erasure answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "owner_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a10",
    "erased_at": "2026-12-06T10:15:00Z",
    "already_erased": false
}))]
pub struct ErasureView {
    pub owner_id: Uuid,
    /// When the owner's data key was deleted (by this request, or an earlier one).
    pub erased_at: chrono::DateTime<chrono::Utc>,
    /// Whether an earlier request had erased it already (nothing changed now).
    pub already_erased: bool,
}

#[utoipa::path(
    post,
    path = "/owners/{owner_id}/erasure",
    tag = "operations",
    summary = "Erase an owner's personal data",
    description = "Deletes the owner's data key (\"crypto-shredding\"): every personal field of \
        theirs (holder name, descriptions, freeze and unfreeze reasons), in events, snapshots, read models and \
        recorded responses, reads `null` from now on, on every endpoint and in every process, with \
        `\"personal_data\": \"erased\"` beside it. Nothing in the log is rewritten: balances, \
        the ledger, `verify`, rebuilds and the hash chain are as before. No new key is ever made \
        for the owner: a later command with personal text of theirs is `422 personal-data-erased`. \
        Erasing again answers the first erasure. Events written before personal data was \
        sealed (by an older foldbank) keep their text in the clear. The body is `{}` (or empty), as \
        `application/json`. Operators only.",
    params(("owner_id" = Uuid, Path, description = "The owner")),
    request_body(content = EmptyRequest, description = "`{}` (an empty body or `null` mean the same; either way `Content-Type: application/json`)"),
    responses(
        (status = 200, description = "Erased (now or before)", body = ErasureView),
        (status = 400, description = "Malformed request (`malformed-request`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 415, description = "Not sent as `Content-Type: application/json` (`unsupported-media-type`)", body = Problem, content_type = PROBLEM_JSON),
        OperatorOnly,
        StorageProblems,
    )
)]
pub(crate) async fn erase_owner(
    State(app): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    PathParam(owner_id): PathParam<Uuid>,
    OptionalJsonBody(EmptyRequest {}): OptionalJsonBody<EmptyRequest>,
) -> Result<axum::Json<ErasureView>, ApiError> {
    require_operator(caller)?;
    require_json(&headers)?;
    let erasure = app.keyring.erase(owner_id, app.clock.now()).await?;
    tracing::info!(%owner_id, already = erasure.already, "personal data erased");
    Ok(axum::Json(ErasureView {
        owner_id,
        erased_at: erasure.erased_at,
        already_erased: erasure.already,
    }))
}
