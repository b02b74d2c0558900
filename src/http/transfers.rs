//! `/transfers`: moving money between accounts, and `/ledger/summary`: where all the money is.
//!
//! `POST /transfers` debits the source right away (its rules apply: funds, frozen, closed,
//! currency, daily limit) and answers 202: the credit on the destination is the transfer
//! process manager's job (`crate::process::transfers`). Poll `GET /transfers/{id}` for the
//! outcome.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{CommandOptions, Companion, Stamp};
use crate::domain::account::{AccountCommand, AccountError, DebitTransfer};
use crate::domain::ids::{AccountId, TransferId};
use crate::domain::money::{Amount, Currency};
use crate::domain::personal::Personal;
use crate::domain::text::Text;
use crate::domain::transfer::{Terms, TransferCommand, TransferDecider};
use crate::http::AppState;
use crate::http::auth::{ensure_visible, may_see, require_operator};
use crate::http::extract::{JsonBody, PathParam, QueryParams};
use crate::http::idempotency::{CommandRequest, IdempotencyKeyParam, Reply};
use crate::http::personal;
use crate::http::personal::PersonalData;
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::reads::{page_size, position_cursor, read, with_projection_position};
use crate::http::responses::{AccountQueryProblems, BodyProblems, OperatorOnly, QueryProblems};
use crate::http::schema;
use crate::projection::CurrencyTotals;
use crate::projection::Reads;
use crate::projection::transfers::{TransferRow, TransferState};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_transfer))
        .routes(routes!(transfer))
        .routes(routes!(account_transfers))
        .routes(routes!(ledger_summary))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "transfer_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a30",
    "from_account": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a11",
    "to_account": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a21",
    "amount": 1500,
    "currency": "EUR",
    "description": "rent share"
}))]
pub struct TransferRequest {
    /// Optional client-chosen id that makes the request idempotent: sending it again does
    /// nothing new. Generated when absent.
    pub transfer_id: Option<Uuid>,
    pub from_account: Uuid,
    /// Must differ from `from_account`.
    pub to_account: Uuid,
    /// Minor units, `1..=10^15`.
    #[serde(deserialize_with = "schema::minor_units")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub amount: i64,
    /// Must equal both accounts' currency.
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    /// Free text: not blank, at most 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub description: Option<String>,
}

/// A [`TransferRequest`] whose values are valid, between two different accounts.
#[derive(Debug)]
struct ValidTransfer {
    transfer_id: Option<TransferId>,
    from: AccountId,
    to: AccountId,
    amount: Amount,
    currency: Currency,
    description: Option<Text>,
}

impl TryFrom<TransferRequest> for ValidTransfer {
    type Error = ApiError;

    fn try_from(request: TransferRequest) -> Result<Self, ApiError> {
        let amount = InvalidParam::check("amount", Amount::new(request.amount));
        let currency = InvalidParam::check("currency", request.currency.parse::<Currency>());
        let description = InvalidParam::check("description", request.description.map(Text::new).transpose());
        let (amount, currency, description) = match (amount, currency, description) {
            (Ok(amount), Ok(currency), Ok(description)) => (amount, currency, description),
            (amount, currency, description) => {
                return Err(ApiError::invalid_fields([
                    amount.err(),
                    currency.err(),
                    description.err(),
                ]));
            }
        };
        // A rule, not a shape: JSON Schema cannot say "two fields differ", so this is a 422.
        if request.from_account == request.to_account {
            return Err(ApiError::Rejected(AccountError::TransferToSelf));
        }
        Ok(ValidTransfer {
            transfer_id: request.transfer_id.map(TransferId),
            from: AccountId(request.from_account),
            to: AccountId(request.to_account),
            amount,
            currency,
            description,
        })
    }
}

impl ValidTransfer {
    /// The debit, with the description as sealed for the source's owner (who typed it: the
    /// destination's credit copies it as it is).
    fn debit(&self, transfer_id: TransferId, description: Option<Personal>, stamp: Stamp) -> AccountCommand {
        AccountCommand::DebitTransfer(DebitTransfer {
            transfer_id,
            transaction_id: stamp.transaction_id,
            to_account: self.to,
            amount: self.amount,
            currency: self.currency,
            description,
            occurred_at: stamp.occurred_at,
        })
    }
}

/// A transfer accepted for processing.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferAccepted {
    pub transfer_id: Uuid,
    pub from_account: Uuid,
    pub to_account: Uuid,
    /// The source's stream version after the debit.
    pub version: i64,
    /// The global position of the debit: pass it as `min_position` to `GET /transfers/{id}`.
    pub position: i64,
}

#[utoipa::path(
    post,
    path = "/transfers",
    tag = "transfers",
    summary = "Transfer money between two accounts",
    description = "Debits the source now (`TransferDebited`) and answers 202; the process manager \
        then credits the destination (`TransferCredited`) or, if the destination refuses (unknown, \
        closed, another currency, or an id that names no account), refunds the source \
        (`TransferRefunded`) and the transfer ends `failed` with the reason. A frozen destination \
        still accepts money. Transfers count toward the source's daily withdrawal limit. \
        Repeating a request with the same `transfer_id` changes nothing.",
    params(IdempotencyKeyParam),
    request_body = TransferRequest,
    responses(
        (status = 202, description = "Debited; settlement follows", body = TransferAccepted,
            headers(("Location" = String, description = "`/transfers/{id}`"))),
        BodyProblems,
        (status = 404, description = "The source account does not exist", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "`transfer_id` already names an account (`id-in-use`), or concurrent modification persisted after retries (`concurrency-conflict`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Refused: `transfer-to-self`, or by the source: `insufficient-funds`, `account-frozen`, `account-closed`, `currency-mismatch`, `daily-limit-exceeded`, `transfer-id-reused`; `idempotency-key-reused` when the `Idempotency-Key` named another request; `personal-data-erased` when it carries personal text (a description, a reason) of an owner whose personal data was erased", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn create_transfer(
    State(app): State<AppState>,
    command: CommandRequest,
    JsonBody(request): JsonBody<TransferRequest>,
) -> Result<Response, ApiError> {
    let request = ValidTransfer::try_from(request)?;
    let transfer_id = request
        .transfer_id
        .unwrap_or_else(|| TransferId(app.ids.new_id()));
    let (from, to) = (request.from, request.to);
    let reply = Reply::new(
        StatusCode::ACCEPTED,
        move |outcome| {
            serde_json::to_value(TransferAccepted {
                transfer_id: transfer_id.as_uuid(),
                from_account: from.as_uuid(),
                to_account: to.as_uuid(),
                version: outcome.version,
                position: outcome.position,
            })
            .unwrap_or_default()
        },
        move |_| Some(format!("/transfers/{transfer_id}")),
    );
    // A transfer id names one transfer: `TransferRequested` is recorded on the transfer's own
    // stream with the debit, at version 0, so of two requests under one id (from any accounts,
    // at any moment) only one is written; the other is `transfer-id-reused`.
    let terms = Terms {
        from_account: request.from,
        to_account: request.to,
        amount: request.amount,
        currency: request.currency,
    };
    let options = CommandOptions {
        companion: Some(Companion::new::<TransferDecider, _>(
            transfer_id,
            move |stamp: &Stamp| TransferCommand::Request {
                transfer_id,
                terms,
                occurred_at: stamp.occurred_at,
            },
        )),
        ..command.ignoring_if_match().options(&reply)
    };
    let description = personal::seal(&app, request.from, request.description.as_ref(), &options).await?;
    let outcome = app
        .commands
        .handle_with(request.from, options, |stamp| {
            request.debit(transfer_id, description.clone(), stamp)
        })
        .await?;
    Ok(reply.to(&outcome))
}

/// A transfer and how it ended.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "transfer_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a30",
    "from_account": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a11",
    "to_account": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a21",
    "amount": 1500,
    "currency": "EUR",
    "description": "rent share",
    "status": "completed",
    "reason": null,
    "requested_at": "2026-11-27T09:30:00Z",
    "finished_at": "2026-11-27T09:30:00.004Z",
    "debit_position": 41,
    "credit_position": 42,
    "refund_position": null
}))]
pub struct TransferView {
    pub transfer_id: Uuid,
    pub from_account: Uuid,
    pub to_account: Uuid,
    pub amount: i64,
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    pub description: Option<String>,
    pub status: TransferState,
    /// Why it failed: `destination-not-found`, `destination-closed`, `currency-mismatch`, ...
    pub reason: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Global positions of the debit, the credit and the refund.
    pub debit_position: i64,
    pub credit_position: Option<i64>,
    pub refund_position: Option<i64>,
    /// Present when a personal field of this object reads `null` because it cannot be opened:
    /// `erased` after the owner's erasure (see `POST /owners/{owner_id}/erasure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<PersonalData>,
}

impl From<TransferRow> for TransferView {
    fn from(row: TransferRow) -> Self {
        TransferView {
            personal_data: None,
            transfer_id: row.transfer_id,
            from_account: row.from_account,
            to_account: row.to_account,
            amount: row.amount,
            currency: row.currency,
            description: row.description,
            status: row.status,
            reason: row.reason,
            requested_at: row.requested_at,
            finished_at: row.finished_at,
            debit_position: row.debit_position,
            credit_position: row.credit_position,
            refund_position: row.refund_position,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadParams {
    /// Wait until the read model reflects this global position (from a command response); one
    /// beyond the head of the log is `400 position-beyond-head` at once.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/transfers/{id}",
    tag = "transfers",
    summary = "One transfer",
    params(("id" = Uuid, Path, description = "Transfer id"), ReadParams),
    responses(
        (status = 200, description = "The transfer", body = TransferView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        QueryProblems,
        (status = 404, description = "No such transfer (`transfer-not-found`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn transfer(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
    QueryParams(params): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    let snapshot = read(
        &app,
        Reads::Transfers,
        params.min_position,
        move |models| async move { models.transfer(id).await },
    )
    .await?;
    let row = snapshot.value.ok_or(ApiError::TransferNotFound(id))?;
    // A customer sees the transfers its accounts sent or received, as if others did not exist.
    let visible = async |account| may_see(&app, caller, AccountId(account)).await;
    if !(visible(row.from_account).await? || visible(row.to_account).await?) {
        return Err(ApiError::TransferNotFound(id));
    }
    Ok(with_projection_position(
        axum::Json(TransferView::from(row)).into_response(),
        snapshot.position,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransferListParams {
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

#[derive(Debug, Serialize, ToSchema)]
pub struct TransferPageView {
    pub account_id: Uuid,
    pub items: Vec<TransferView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/accounts/{id}/transfers",
    tag = "transfers",
    summary = "An account's transfers",
    description = "Transfers the account sent or received, newest first; keyset-paginated.",
    params(("id" = Uuid, Path, description = "Account id"), TransferListParams),
    responses(
        (status = 200, description = "A page of transfers", body = TransferPageView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        AccountQueryProblems,
    )
)]
pub(crate) async fn account_transfers(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
    QueryParams(params): QueryParams<TransferListParams>,
) -> Result<Response, ApiError> {
    ensure_visible(&app, caller, AccountId(id)).await?;
    let limit = page_size(params.limit)?;
    let before = position_cursor(params.cursor.as_deref())?;
    // The account and its transfers from the same database: a replica that knows the
    // transfers knows the account.
    let (account, snapshot) = read(
        &app,
        Reads::AccountTransfers,
        params.min_position,
        move |models| async move {
            Ok((
                models.account(id).await?,
                models.account_transfers(id, before, limit).await?,
            ))
        },
    )
    .await?;
    if account.value.is_none() {
        return Err(ApiError::AccountNotFound(AccountId(id)));
    }
    let body = TransferPageView {
        account_id: id,
        next_cursor: snapshot.value.next.map(|position| position.to_string()),
        items: snapshot.value.items.into_iter().map(TransferView::from).collect(),
    };
    Ok(with_projection_position(
        axum::Json(body).into_response(),
        snapshot.position,
    ))
}

/// One currency's totals, in minor units.
///
/// `total` and `in_flight` are JSON integers as long as they fit a signed 64-bit integer, which
/// is what every other amount of this API is; a sum beyond that range (many huge balances) is
/// `null` there rather than a rounded or clipped number. `total_exact` and `in_flight_exact`
/// hold the same figures as decimal strings, exact at any size and in any JSON parser (one that
/// reads numbers as doubles, as JavaScript does, already rounds integers above 2^53).
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencyTotalsView {
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    /// The sum of all account balances; `null` when it does not fit a signed 64-bit integer.
    #[schema(required = true)]
    pub total: Option<i64>,
    /// Debited from a source but not yet credited or refunded; `null` when it does not fit a
    /// signed 64-bit integer.
    #[schema(required = true)]
    pub in_flight: Option<i64>,
    /// Set aside by open holds: still in `total`, no longer available to spend; `null` when it
    /// does not fit a signed 64-bit integer.
    #[schema(required = true)]
    pub held: Option<i64>,
    /// `total` as a decimal string, exact at any size.
    #[schema(pattern = "^-?[0-9]+$")]
    pub total_exact: String,
    /// `in_flight` as a decimal string, exact at any size.
    #[schema(pattern = "^-?[0-9]+$")]
    pub in_flight_exact: String,
    /// `held` as a decimal string, exact at any size.
    #[schema(pattern = "^-?[0-9]+$")]
    pub held_exact: String,
}

impl From<CurrencyTotals> for CurrencyTotalsView {
    fn from(totals: CurrencyTotals) -> Self {
        CurrencyTotalsView {
            currency: totals.currency,
            total: i64::try_from(totals.total).ok(),
            in_flight: i64::try_from(totals.in_flight).ok(),
            held: i64::try_from(totals.held).ok(),
            total_exact: totals.total.to_string(),
            in_flight_exact: totals.in_flight.to_string(),
            held_exact: totals.held.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "position": 120,
    "currencies": [{ "currency": "EUR", "total": 9950, "in_flight": 50, "held": 2000,
        "total_exact": "9950", "in_flight_exact": "50", "held_exact": "2000" }]
}))]
pub struct LedgerSummary {
    /// The log position the figures reflect.
    pub position: i64,
    pub currencies: Vec<CurrencyTotalsView>,
}

#[utoipa::path(
    get,
    path = "/ledger/summary",
    tag = "transfers",
    summary = "Where all the money is",
    description = "Per currency, the total of all account balances, the money in flight \
        between accounts and the money set aside by open holds: running sums kept by the `ledger_totals` read model, read with the \
        position they reflect. Transfers conserve money: `total + in_flight` changes only with \
        deposits, withdrawals and reversals. The figures are exact at any size in \
        `total_exact`, `in_flight_exact` and `held_exact`; `total`, `in_flight` and `held` are \
        `null` when they do not fit a signed 64-bit integer.",
    params(ReadParams),
    responses(
        (status = 200, description = "The totals", body = LedgerSummary,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        QueryProblems,
        OperatorOnly,
    )
)]
pub(crate) async fn ledger_summary(
    State(app): State<AppState>,
    caller: Caller,
    QueryParams(params): QueryParams<ReadParams>,
) -> Result<Response, ApiError> {
    require_operator(caller)?;
    let snapshot = read(
        &app,
        Reads::Ledger,
        params.min_position,
        move |models| async move { models.ledger().await },
    )
    .await?;
    let body = LedgerSummary {
        position: snapshot.position,
        currencies: snapshot.value.into_iter().map(CurrencyTotalsView::from).collect(),
    };
    Ok(with_projection_position(
        axum::Json(body).into_response(),
        snapshot.position,
    ))
}
