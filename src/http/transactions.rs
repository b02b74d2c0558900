//! `GET /accounts/{id}/transactions`: an account's money movements, newest first.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::domain::ids::AccountId;
use crate::http::AppState;
use crate::http::auth::ensure_visible;
use crate::http::extract::{PathParam, QueryParams};
use crate::http::personal::PersonalData;
use crate::http::problem::ApiError;
use crate::http::reads::{instant, page_size, position_cursor, read, with_projection_position};
use crate::http::responses::AccountQueryProblems;
use crate::http::schema;
use crate::projection::Reads;
use crate::projection::TransactionFilter;
use crate::projection::transactions::{MovementKind, TransactionRow};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(account_transactions))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransactionParams {
    /// Only movements at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only movements before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
    /// Wait until the read model reflects this global position (from a command response); one
    /// beyond the head of the log is `400 position-beyond-head` at once.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

/// One money movement.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "transaction_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a12",
    "kind": "withdrawal",
    "amount": -1000,
    "balance_after": 11500,
    "currency": "EUR",
    "description": "groceries",
    "occurred_at": "2026-11-27T09:45:00Z",
    "version": 3,
    "position": 17
}))]
pub struct TransactionView {
    pub transaction_id: Uuid,
    pub kind: MovementKind,
    /// Signed minor units: credits positive, debits negative.
    pub amount: i64,
    pub balance_after: i64,
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    pub description: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The account's stream version after this movement.
    pub version: i64,
    /// The global log position of the event that recorded it.
    pub position: i64,
    /// For transfer legs: the transfer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<Uuid>,
    /// For transfer legs: the account on the other side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterparty_account_id: Option<Uuid>,
    /// For reversals: the movement reversed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverses_transaction_id: Option<Uuid>,
    /// Present when a personal field of this object reads `null` because it cannot be opened:
    /// `erased` after the owner's erasure (see `POST /owners/{owner_id}/erasure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<PersonalData>,
}

impl From<TransactionRow> for TransactionView {
    fn from(row: TransactionRow) -> Self {
        TransactionView {
            personal_data: None,
            transaction_id: row.transaction_id,
            kind: row.kind,
            amount: row.amount,
            balance_after: row.balance_after,
            currency: row.currency,
            description: row.description,
            occurred_at: row.occurred_at,
            version: row.stream_version,
            position: row.global_position,
            transfer_id: row.transfer_id,
            counterparty_account_id: row.counterparty_account_id,
            reverses_transaction_id: row.reverses_transaction_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionPageView {
    pub account_id: Uuid,
    pub items: Vec<TransactionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/accounts/{id}/transactions",
    tag = "queries",
    summary = "An account's transaction history",
    description = "Money movements from the `account_transactions` read model, newest first, \
        optionally within `[from, to)`; keyset-paginated.",
    params(("id" = Uuid, Path, description = "Account id"), TransactionParams),
    responses(
        (status = 200, description = "A page of movements", body = TransactionPageView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        AccountQueryProblems,
    )
)]
pub(crate) async fn account_transactions(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
    QueryParams(params): QueryParams<TransactionParams>,
) -> Result<Response, ApiError> {
    ensure_visible(&app, caller, AccountId(id)).await?;
    let limit = page_size(params.limit)?;
    let before = position_cursor(params.cursor.as_deref())?;
    let filter = TransactionFilter {
        from: instant("from", params.from)?,
        to: instant("to", params.to)?,
        before,
        limit,
    };
    let filter = &filter;
    let snapshot = read(
        &app,
        Reads::Movements,
        params.min_position,
        move |models| async move { models.transactions(id, filter).await },
    )
    .await?;
    let page = snapshot.value.ok_or(ApiError::AccountNotFound(AccountId(id)))?;
    let body = TransactionPageView {
        account_id: id,
        next_cursor: page.next.map(|position| position.to_string()),
        items: page.items.into_iter().map(TransactionView::from).collect(),
    };
    Ok(with_projection_position(
        axum::Json(body).into_response(),
        snapshot.position,
    ))
}
