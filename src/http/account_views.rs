//! `GET /accounts`, `GET /accounts/{id}` and `GET /accounts/{id}/balance`: the account read
//! model, and time travel over the log with `?at=`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::domain::account::Account;
use crate::domain::ids::AccountId;
use crate::http::AppState;
use crate::http::auth::ensure_visible;
use crate::http::extract::{PathParam, QueryParams, with_etag};
use crate::http::personal::PersonalData;
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::reads::{id_cursor, instant, page_size, read, with_projection_position};
use crate::http::responses::QueryProblems;
use crate::http::schema;
use crate::projection::Reads;
use crate::projection::balances::{self, Status};
use crate::projection::{AccountFilter, BalanceAt};
use crate::query::{Folded, PointInTime};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts))
        .routes(routes!(account))
        .routes(routes!(balance))
}

/// An account as the read model (or, with `at`, the event log) sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "account_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a11",
    "owner_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a10",
    "holder_name": "Alice Martin",
    "currency": "EUR",
    "balance": 12500,
    "held": 2000,
    "available": 15500,
    "overdraft_limit": 5000,
    "daily_withdrawal_limit": 100000,
    "status": "active",
    "frozen_reason": null,
    "frozen_by": null,
    "version": 4,
    "position": 42,
    "opened_at": "2026-11-27T09:30:00Z",
    "updated_at": "2026-11-27T10:00:00Z"
}))]
pub struct AccountView {
    pub account_id: Uuid,
    pub owner_id: Uuid,
    /// The holder's name, if one was given: personal data (`null` after the owner's erasure).
    pub holder_name: Option<String>,
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    /// Minor units; negative when overdrawn.
    pub balance: i64,
    /// Set aside by open holds: still in the balance, no longer available.
    pub held: i64,
    /// Balance plus overdraft minus `held`: what a withdrawal, a transfer or a new hold may
    /// still take.
    pub available: i64,
    pub overdraft_limit: i64,
    pub daily_withdrawal_limit: Option<i64>,
    /// Charged once each time the balance crosses below zero (`null`: none).
    pub overdraft_fee: Option<i64>,
    pub status: Status,
    pub frozen_reason: Option<String>,
    /// Who froze the account, while frozen: `owner` (its owner may lift it) or `bank` (only an
    /// operator may).
    #[schema(value_type = Option<String>, pattern = "^(owner|bank)$")]
    pub frozen_by: Option<String>,
    /// The stream version this view reflects (use it in `If-Match`).
    pub version: i64,
    /// The global position of the last event this view reflects.
    pub position: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// With `?at=`: the instant this view shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<DateTime<Utc>>,
    /// With `?at=`: how the state was folded from the log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folded: Option<FoldedView>,
    /// Present when a personal field of this object reads `null` because it cannot be opened:
    /// `erased` after the owner's erasure (see `POST /owners/{owner_id}/erasure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<PersonalData>,
}

impl From<balances::BalanceRow> for AccountView {
    fn from(row: balances::BalanceRow) -> Self {
        AccountView {
            personal_data: None,
            available: row.available(),
            account_id: row.account_id,
            owner_id: row.owner_id,
            holder_name: row.holder_name,
            currency: row.currency,
            balance: row.balance,
            held: row.held,
            overdraft_limit: row.overdraft_limit,
            daily_withdrawal_limit: row.daily_withdrawal_limit,
            overdraft_fee: row.overdraft_fee,
            status: row.status,
            frozen_reason: row.frozen_reason,
            frozen_by: row.frozen_by,
            version: row.version,
            position: row.position,
            opened_at: row.opened_at,
            updated_at: row.updated_at,
            as_of: None,
            folded: None,
        }
    }
}

impl AccountView {
    fn from_history(
        account: Account,
        version: i64,
        position: i64,
        at: DateTime<Utc>,
        folded: Folded,
    ) -> Self {
        let (frozen_reason, frozen_by) = match &account.status {
            crate::domain::account::AccountStatus::Frozen { reason, by } => {
                (Some(reason.as_str().to_owned()), Some(by.to_string()))
            }
            _ => (None, None),
        };
        AccountView {
            personal_data: None,
            available: account.available(),
            account_id: account.id.as_uuid(),
            owner_id: account.owner_id.as_uuid(),
            holder_name: account.holder_name.as_ref().map(|name| name.as_str().to_owned()),
            currency: account.currency.code().to_owned(),
            balance: account.balance.minor_units,
            held: account.held(),
            overdraft_limit: account.overdraft_limit.minor_units(),
            daily_withdrawal_limit: account.daily_withdrawal_limit.map(|limit| limit.minor_units()),
            overdraft_fee: account.overdraft_fee.map(|fee| fee.minor_units()),
            status: Status::from(&account.status),
            frozen_reason,
            frozen_by,
            version,
            position,
            opened_at: account.opened_at,
            updated_at: account.updated_at,
            as_of: Some(at),
            folded: Some(FoldedView {
                from_snapshot_version: folded.from_snapshot_version,
                events: i64::try_from(folded.events).unwrap_or(i64::MAX),
            }),
        }
    }
}

/// How a state at an instant was folded: `state = fold(evolve, start, events)`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({ "from_snapshot_version": 100, "events": 4 }))]
pub struct FoldedView {
    /// The stream version of the aggregate snapshot the fold started from: the account's state
    /// stored beside its events every `--snapshot-every-events` (100) events; `null` when the
    /// fold started from the first event (the instant is before the latest snapshot, or the
    /// stream has none).
    pub from_snapshot_version: Option<i64>,
    /// The events folded after that start.
    pub events: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAccountsParams {
    /// Only this owner's accounts.
    pub owner_id: Option<Uuid>,
    /// Only accounts in this status.
    #[param(inline)]
    pub status: Option<Status>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(format = Uuid)]
    pub cursor: Option<String>,
    /// Wait until the read model reflects this global position (from a command response); one
    /// beyond the head of the log is `400 position-beyond-head` at once.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPageView {
    pub items: Vec<AccountView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/accounts",
    tag = "queries",
    summary = "List accounts",
    description = "A page of accounts from the `account_balances` read model, ordered by id \
        (keyset pagination: pass `next_cursor` as `cursor`).",
    params(ListAccountsParams),
    responses(
        (status = 200, description = "A page of accounts", body = AccountPageView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        QueryProblems,
    )
)]
pub(crate) async fn list_accounts(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<ListAccountsParams>,
) -> Result<Response, ApiError> {
    let limit = page_size(params.limit)?;
    let after = id_cursor(params.cursor.as_deref())?;
    // A customer key lists its owner's accounts, whatever `owner_id` asks for.
    let owner_id = match (caller.owner(), params.owner_id) {
        (Some(own), Some(asked)) if own.as_uuid() != asked => Some(Uuid::nil()),
        (Some(own), _) => Some(own.as_uuid()),
        (None, asked) => asked,
    };
    let filter = AccountFilter {
        owner_id,
        status: params.status,
        after,
        limit,
    };
    let filter = &filter;
    let page = read(
        &app,
        Reads::Accounts,
        params.min_position,
        move |models| async move { models.accounts(filter).await },
    )
    .await?;
    let body = AccountPageView {
        next_cursor: page.value.next.map(|id| id.to_string()),
        items: page.value.items.into_iter().map(AccountView::from).collect(),
    };
    Ok(with_projection_position(
        axum::Json(body).into_response(),
        page.position,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountParams {
    /// Time travel: the account as it was at this instant (RFC 3339), folded from the event
    /// log instead of read from the read model.
    pub at: Option<DateTime<Utc>>,
    /// Wait until the read model reflects this global position (ignored with `at`).
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/accounts/{id}",
    tag = "queries",
    summary = "One account",
    description = "The account's row in the `account_balances` read model. With `at`, the account \
        as it was at that instant, folded from its events (`occurred_at <= at`), starting from \
        its aggregate snapshot when that is no later than `at` (`folded` says which).",
    params(("id" = Uuid, Path, description = "Account id"), AccountParams),
    responses(
        (status = 200, description = "The account", body = AccountView,
            headers(("ETag" = String, description = "The version, quoted, for `If-Match`"),
                    ("X-Projection-Position" = i64, description = "The log position the read model reflects (absent with `at`)"))),
        QueryProblems,
        (status = 404, description = "No such account (`account-not-found`), or not yet opened at `at` (`account-not-yet-opened`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn account(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
    QueryParams(params): QueryParams<AccountParams>,
) -> Result<Response, ApiError> {
    ensure_visible(&app, caller, AccountId(id)).await?;
    let account_id = AccountId(id);
    // Ignored with `at`, but never accepted out of its range.
    if params.min_position.is_some_and(|position| position < 0) {
        return Err(InvalidParam::new("min_position", "must be 0 or more").into());
    }
    if let Some(at) = instant("at", params.at)? {
        return match app.history.at(account_id, at).await? {
            PointInTime::Unknown => Err(ApiError::AccountNotFound(account_id)),
            PointInTime::NotYetOpened => Err(ApiError::NotYetOpened { account_id, at }),
            PointInTime::Opened {
                account,
                version,
                position,
                folded,
            } => Ok(with_etag(
                axum::Json(AccountView::from_history(account, version, position, at, folded)).into_response(),
                version,
            )),
        };
    }
    let snapshot = read(
        &app,
        Reads::Accounts,
        params.min_position,
        move |models| async move { models.account(id).await },
    )
    .await?;
    let row = snapshot.value.ok_or(ApiError::AccountNotFound(account_id))?;
    let version = row.version;
    let response = with_etag(axum::Json(AccountView::from(row)).into_response(), version);
    Ok(with_projection_position(response, snapshot.position))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BalanceParams {
    /// The instant (RFC 3339); when absent, the latest balance the read models reflect.
    pub at: Option<DateTime<Utc>>,
    /// Wait until the read models reflect this global position.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

/// The balance at an instant, or the latest balance.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "account_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a11",
    "balance": 11500,
    "currency": "EUR",
    "as_of": "2026-11-27T09:45:00Z",
    "version": 3
}))]
pub struct BalanceView {
    pub account_id: Uuid,
    pub balance: i64,
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    /// `at`, or without it the time of the last event the read models reflect.
    pub as_of: DateTime<Utc>,
    /// The stream version after the last money movement at or before `as_of` (1 when none).
    pub version: i64,
}

#[utoipa::path(
    get,
    path = "/accounts/{id}/balance",
    tag = "queries",
    summary = "The balance at an instant, or the latest balance",
    description = "Served from the `account_transactions` read model by one index lookup (the \
        `balance_after` of the last movement at or before `at`), so its cost does not grow with \
        the history. Without `at`, the latest balance: the last movement the read model holds, \
        however its time compares with this node's clock (so `min_position` reads your own \
        writes), and `as_of` is the time of the last event the read models reflect.",
    params(("id" = Uuid, Path, description = "Account id"), BalanceParams),
    responses(
        (status = 200, description = "The balance", body = BalanceView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        QueryProblems,
        (status = 404, description = "No such account (`account-not-found`), or not yet opened at `at` (`account-not-yet-opened`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn balance(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
    QueryParams(params): QueryParams<BalanceParams>,
) -> Result<Response, ApiError> {
    ensure_visible(&app, caller, AccountId(id)).await?;
    let account_id = AccountId(id);
    let at = instant("at", params.at)?;
    let snapshot = read(
        &app,
        Reads::Movements,
        params.min_position,
        move |models| async move {
            match at {
                Some(at) => models.balance_at(id, at).await,
                None => models.latest_balance(id).await,
            }
        },
    )
    .await?;
    match snapshot.value {
        BalanceAt::UnknownAccount => Err(ApiError::AccountNotFound(account_id)),
        // Only an instant asked about can precede the opening.
        BalanceAt::NotYetOpened { opened_at } => Err(ApiError::NotYetOpened {
            account_id,
            at: at.unwrap_or(opened_at),
        }),
        BalanceAt::Balance {
            balance,
            currency,
            version,
            as_of,
        } => {
            let body = BalanceView {
                account_id: id,
                balance,
                currency,
                as_of,
                version,
            };
            Ok(with_projection_position(
                axum::Json(body).into_response(),
                snapshot.position,
            ))
        }
    }
}
