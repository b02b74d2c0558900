//! `/accounts/{id}/holds`: authorize now, capture or void later, and the holds read model.
//!
//! A hold runs through the same command pipeline as every account command (owner check,
//! `If-Match`, `Idempotency-Key`). Its deadline is recorded in `HoldPlaced` and expired by the
//! scheduler of `crate::process::expiry`; the reads come from `account_holds`.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::clock::truncate_to_micros;
use crate::command::{CommandOutcome, Stamp};
use crate::domain::account::{
    AccountCommand, AccountError, AccountEvent, CaptureHold, MAX_HOLD, PlaceHold, VoidHold,
};
use crate::domain::ids::{AccountId, HoldId};
use crate::domain::money::{Amount, Currency};
use crate::domain::personal::Personal;
use crate::domain::text::Text;
use crate::http::AppState;
use crate::http::accounts::{CommandResponse, EmptyRequest, reply};
use crate::http::auth::ensure_visible;
use crate::http::extract::{JsonBody, OptionalJsonBody, PathParam, QueryParams};
use crate::http::idempotency::{CommandRequest, Reply};
use crate::http::personal;
use crate::http::personal::PersonalData;
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::reads::{instant, page_size, position_cursor, read, with_projection_position};
use crate::http::responses::{CommandProblems, EmptyBodyCommandProblems, QueryProblems};
use crate::http::schema;
use crate::projection::holds::{HoldRow, HoldStatus};
use crate::projection::{HoldFilter, HoldsRead, Reads};

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_hold, list_holds))
        .routes(routes!(hold))
        .routes(routes!(capture_hold))
        .routes(routes!(void_hold))
}

/// Request body of `POST /accounts/{id}/holds`: the deadline as an instant (`expires_at`) or as
/// seconds from now (`expires_in_secs`), one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "amount": 8000, "currency": "EUR", "expires_in_secs": 604800, "description": "hotel deposit" }))]
pub struct PlaceHoldRequest {
    /// Optional client-chosen id, unique within the account: the same hold placed again (same
    /// amount, currency and `expires_at`) changes nothing. Generated when absent.
    pub hold_id: Option<Uuid>,
    /// Minor units, `1..=10^15`.
    #[serde(deserialize_with = "schema::minor_units")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub amount: i64,
    /// Must equal the account's currency.
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    /// When the hold lapses if nobody captures or voids it: 1 second to 30 days from now.
    pub expires_at: Option<DateTime<Utc>>,
    /// The same, as seconds from now.
    #[schema(minimum = 1, maximum = 2_592_000)]
    pub expires_in_secs: Option<i64>,
    /// Free text: not blank, at most 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub description: Option<String>,
}

/// When a hold lapses, as asked.
#[derive(Debug, Clone, Copy)]
enum Deadline {
    At(DateTime<Utc>),
    /// From the command's own instant.
    In(TimeDelta),
}

/// A [`PlaceHoldRequest`] whose values are valid.
#[derive(Debug)]
struct ValidHold {
    hold_id: Option<HoldId>,
    amount: Amount,
    currency: Currency,
    deadline: Deadline,
    description: Option<Text>,
}

impl TryFrom<PlaceHoldRequest> for ValidHold {
    type Error = ApiError;

    fn try_from(request: PlaceHoldRequest) -> Result<Self, ApiError> {
        let amount = InvalidParam::check("amount", Amount::new(request.amount));
        let currency = InvalidParam::check("currency", request.currency.parse::<Currency>());
        let description = InvalidParam::check("description", request.description.map(Text::new).transpose());
        let deadline = match (request.expires_at, request.expires_in_secs) {
            // Leap seconds have no place in the log's timestamps.
            (Some(at), None) if at.nanosecond() >= 1_000_000_000 => {
                Err(InvalidParam::new("expires_at", "a leap second is not a deadline"))
            }
            // Both databases keep microseconds: the event keeps what they can store. The rule
            // judges the range (`hold-expiry-out-of-range`): far off is not malformed.
            (Some(at), None) => Ok(Deadline::At(truncate_to_micros(at))),
            (None, Some(secs)) if (1..=MAX_HOLD.num_seconds()).contains(&secs) => {
                Ok(Deadline::In(TimeDelta::seconds(secs)))
            }
            (None, Some(_)) => Err(InvalidParam::new(
                "expires_in_secs",
                format!("must be between 1 and {}", MAX_HOLD.num_seconds()),
            )),
            _ => Err(InvalidParam::new(
                "expires_at",
                "give exactly one of expires_at and expires_in_secs",
            )),
        };
        match (amount, currency, description, deadline) {
            (Ok(amount), Ok(currency), Ok(description), Ok(deadline)) => Ok(ValidHold {
                hold_id: request.hold_id.map(HoldId),
                amount,
                currency,
                deadline,
                description,
            }),
            (amount, currency, description, deadline) => Err(ApiError::invalid_fields([
                amount.err(),
                currency.err(),
                description.err(),
                deadline.err(),
            ])),
        }
    }
}

impl ValidHold {
    /// The hold, with the description as sealed for the account's owner.
    fn command(&self, hold_id: HoldId, description: Option<Personal>, stamp: Stamp) -> PlaceHold {
        PlaceHold {
            hold_id,
            amount: self.amount,
            currency: self.currency,
            description,
            expires_at: match self.deadline {
                Deadline::At(at) => at,
                Deadline::In(lasts) => stamp.occurred_at + lasts,
            },
            occurred_at: stamp.occurred_at,
        }
    }
}

/// What a placed hold answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "account_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a11",
    "hold_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a40",
    "expires_at": "2026-12-11T09:30:00Z",
    "version": 5,
    "position": 43
}))]
pub struct HoldPlaced {
    pub account_id: Uuid,
    pub hold_id: Uuid,
    /// When the hold lapses unless captured or voided first.
    pub expires_at: DateTime<Utc>,
    /// The account's stream version after the command; also sent as `ETag`.
    pub version: i64,
    /// The global log position of `HoldPlaced`; pass it as `min_position` to read the hold.
    pub position: i64,
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/holds",
    tag = "holds",
    summary = "Place a hold (authorize a payment)",
    description = "Records `HoldPlaced`: the money stays in the balance but is no longer \
        available to withdrawals, transfers or other holds, until the hold is captured, voided, \
        or expires at `expires_at` (1 second to 30 days ahead; the expiry scheduler records \
        `HoldExpired` within seconds). The day's withdrawal limit counts the hold now. Frozen \
        and closed accounts refuse new holds.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        CommandRequest,
    ),
    request_body = PlaceHoldRequest,
    responses(
        (status = 201, description = "Hold placed (or the same hold placed before)", body = HoldPlaced,
            headers(("Location" = String, description = "`/accounts/{id}/holds/{hold_id}`"),
                    ("ETag" = String, description = "The new version, quoted")),
            links(
                ("GetHold" = (operation_id = "hold", parameters(("id" = "$response.body#/account_id"), ("hold_id" = "$response.body#/hold_id")), description = "Read the hold")),
                ("CaptureHold" = (operation_id = "capture_hold", parameters(("id" = "$response.body#/account_id"), ("hold_id" = "$response.body#/hold_id")), description = "Capture it")),
                ("VoidHold" = (operation_id = "void_hold", parameters(("id" = "$response.body#/account_id"), ("hold_id" = "$response.body#/hold_id")), description = "Void it"))
            )),
        CommandProblems,
        (status = 422, description = "Business rule broken: `insufficient-funds`, `account-frozen`, `account-closed`, `currency-mismatch`, `daily-limit-exceeded`, `hold-expiry-out-of-range`, `hold-id-reused` (the id names another hold of this account); `idempotency-key-reused` when the `Idempotency-Key` named another request; `personal-data-erased` when it carries personal text (a description, a reason) of an owner whose personal data was erased", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn place_hold(
    State(app): State<AppState>,
    PathParam(id): PathParam<Uuid>,
    command: CommandRequest,
    JsonBody(request): JsonBody<PlaceHoldRequest>,
) -> Result<Response, ApiError> {
    let hold = ValidHold::try_from(request)?;
    let hold_id = hold.hold_id.unwrap_or_else(|| HoldId(app.ids.new_id()));
    // The deadline of the command last built: a hold placed again records no event to read it
    // from, and `expires_in_secs` counts from the command's own instant.
    let deadline: Arc<Mutex<Option<DateTime<Utc>>>> = Arc::default();
    let answered = deadline.clone();
    let reply = Reply::new(
        StatusCode::CREATED,
        move |outcome: &CommandOutcome| {
            let expires_at = placed_deadline(outcome, hold_id)
                .or(*answered.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
                .unwrap_or_default();
            serde_json::to_value(HoldPlaced {
                account_id: outcome.id.as_uuid(),
                hold_id: hold_id.as_uuid(),
                expires_at,
                version: outcome.version,
                position: outcome.position,
            })
            .unwrap_or_default()
        },
        move |outcome| Some(format!("/accounts/{}/holds/{hold_id}", outcome.id)),
    );
    let options = command.options(&reply);
    let description = personal::seal(&app, AccountId(id), hold.description.as_ref(), &options).await?;
    let outcome = app
        .commands
        .handle_with(AccountId(id), options, |stamp| {
            let placed = hold.command(hold_id, description.clone(), stamp);
            *deadline.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(placed.expires_at);
            AccountCommand::PlaceHold(placed)
        })
        .await?;
    Ok(reply.to(&outcome))
}

/// The deadline `outcome` recorded for `hold_id`, if it placed it.
fn placed_deadline(outcome: &CommandOutcome, hold_id: HoldId) -> Option<DateTime<Utc>> {
    outcome.events.iter().find_map(|event| match event {
        AccountEvent::HoldPlaced {
            hold_id: placed,
            expires_at,
            ..
        } if *placed == hold_id => Some(*expires_at),
        _ => None,
    })
}

/// Request body of `POST /accounts/{id}/holds/{hold_id}/capture`: `{}` (or an empty body, or
/// `null`) captures the whole hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Minor units, at most the hold; the rest is released. The whole hold when absent.
    #[serde(default, deserialize_with = "schema::optional_minor_units")]
    pub amount: Option<i64>,
}

impl utoipa::PartialSchema for CaptureRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
        };
        let amount = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(1_000_000_000_000_000_i64))
            .description(Some(
                "Minor units, at most the hold; the rest is released. The whole hold when absent.",
            ));
        // `null` and an empty body capture the whole hold as `{}` does (see `OptionalJsonBody`):
        // the schema says so, as the one of `EmptyRequest` does.
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .property("amount", amount)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(
                "Request body of a capture: `{\"amount\": ...}`, or `{}`, `null` or an empty body \
                 for the whole hold, sent as `Content-Type: application/json`.",
            ))
            .examples([json!({ "amount": 5000 })])
            .into()
    }
}

impl ToSchema for CaptureRequest {}

#[utoipa::path(
    post,
    path = "/accounts/{id}/holds/{hold_id}/capture",
    tag = "holds",
    summary = "Capture a hold",
    description = "Records `HoldCaptured`: the captured amount leaves the account (a movement, \
        `transaction_id`) and the rest of the hold is available again. A frozen account still \
        pays: the payment was authorized when the hold was placed. A hold past its deadline is \
        expired, even before the scheduler has recorded it.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("hold_id" = Uuid, Path, description = "Hold id"),
        CommandRequest,
    ),
    request_body(content = CaptureRequest, description = "`{\"amount\": ...}`, or `{}` (or an empty body) for the whole hold"),
    responses(
        (status = 201, description = "Captured; `transaction_id` is the movement", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        CommandProblems,
        (status = 404, description = "No such account (`account-not-found`) or hold (`hold-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The hold is no longer open (`hold-not-open`, with its `hold_status`), or concurrent modification persisted after retries (`concurrency-conflict`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Business rule broken: `capture-exceeds-hold`, `account-closed`; `idempotency-key-reused` when the `Idempotency-Key` named another request", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn capture_hold(
    State(app): State<AppState>,
    PathParam((id, hold_id)): PathParam<(Uuid, Uuid)>,
    command: CommandRequest,
    OptionalJsonBody(request): OptionalJsonBody<CaptureRequest>,
) -> Result<Response, ApiError> {
    let amount = InvalidParam::check("amount", request.amount.map(Amount::new).transpose())?;
    let reply = reply(StatusCode::CREATED);
    let outcome = app
        .commands
        .handle_with(AccountId(id), command.options(&reply), |stamp| {
            AccountCommand::CaptureHold(CaptureHold {
                hold_id: HoldId(hold_id),
                transaction_id: stamp.transaction_id,
                amount,
                occurred_at: stamp.occurred_at,
            })
        })
        .await?;
    Ok(reply.to(&outcome))
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/holds/{hold_id}/void",
    tag = "holds",
    summary = "Void a hold",
    description = "Records `HoldVoided`: all of the hold is available again. The body is `{}` \
        (or empty), as `application/json`.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("hold_id" = Uuid, Path, description = "Hold id"),
        CommandRequest,
    ),
    request_body(content = EmptyRequest, description = "`{}` (an empty body or `null` mean the same; either way `Content-Type: application/json`)"),
    responses(
        (status = 200, description = "Voided", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        EmptyBodyCommandProblems,
        (status = 404, description = "No such account (`account-not-found`) or hold (`hold-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The hold is no longer open (`hold-not-open`, with its `hold_status`), or concurrent modification persisted after retries (`concurrency-conflict`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Business rule broken: `account-closed`; `idempotency-key-reused` when the `Idempotency-Key` named another request", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn void_hold(
    State(app): State<AppState>,
    PathParam((id, hold_id)): PathParam<(Uuid, Uuid)>,
    command: CommandRequest,
    OptionalJsonBody(EmptyRequest {}): OptionalJsonBody<EmptyRequest>,
) -> Result<Response, ApiError> {
    let reply = reply(StatusCode::OK);
    let outcome = app
        .commands
        .handle_with(AccountId(id), command.options(&reply), |stamp| {
            AccountCommand::VoidHold(VoidHold {
                hold_id: HoldId(hold_id),
                occurred_at: stamp.occurred_at,
            })
        })
        .await?;
    Ok(reply.to(&outcome))
}

/// A hold as the `account_holds` read model sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "account_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a11",
    "hold_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a40",
    "amount": 8000,
    "currency": "EUR",
    "description": "hotel deposit",
    "status": "captured",
    "expires_at": "2026-12-11T09:30:00Z",
    "placed_at": "2026-12-04T09:30:00Z",
    "settled_at": "2026-12-05T11:00:00Z",
    "captured": 5000,
    "transaction_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a41",
    "released": 3000,
    "placed_position": 43,
    "position": 51
}))]
pub struct HoldView {
    pub account_id: Uuid,
    pub hold_id: Uuid,
    /// What was set aside, in minor units.
    pub amount: i64,
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    pub description: Option<String>,
    pub status: HoldStatus,
    pub expires_at: DateTime<Utc>,
    pub placed_at: DateTime<Utc>,
    /// When it was captured, voided or expired.
    pub settled_at: Option<DateTime<Utc>>,
    /// What a capture paid out.
    pub captured: Option<i64>,
    /// The capture's movement in the transaction history.
    pub transaction_id: Option<Uuid>,
    /// What the capture, void or expiry made available again.
    pub released: Option<i64>,
    /// The global position of `HoldPlaced`.
    pub placed_position: i64,
    /// The global position of the last event the view reflects.
    pub position: i64,
    /// Present when a personal field of this object reads `null` because it cannot be opened:
    /// `erased` after the owner's erasure (see `POST /owners/{owner_id}/erasure`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<PersonalData>,
}

impl From<HoldRow> for HoldView {
    fn from(row: HoldRow) -> Self {
        HoldView {
            personal_data: None,
            account_id: row.account_id,
            hold_id: row.hold_id,
            amount: row.amount,
            currency: row.currency,
            description: row.description,
            status: row.status,
            expires_at: row.expires_at,
            placed_at: row.placed_at,
            settled_at: row.settled_at,
            captured: row.captured,
            transaction_id: row.transaction_id,
            released: row.released,
            placed_position: row.placed_position,
            position: row.position,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoldListParams {
    /// Only holds in this status (with `at`, only `open` may be asked for).
    #[param(inline)]
    pub status: Option<HoldStatus>,
    /// Time travel: the holds open at this instant (RFC 3339), each as it was then.
    pub at: Option<DateTime<Utc>>,
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
pub struct HoldPageView {
    pub account_id: Uuid,
    /// Newest first.
    pub items: Vec<HoldView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/accounts/{id}/holds",
    tag = "holds",
    summary = "An account's holds",
    description = "The account's holds from the `account_holds` read model, newest first; \
        keyset-paginated. With `at`, the holds that were open at that instant (placed at or \
        before it, settled after it), as they were then.",
    params(("id" = Uuid, Path, description = "Account id"), HoldListParams),
    responses(
        (status = 200, description = "A page of holds", body = HoldPageView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        QueryProblems,
        (status = 404, description = "No such account (`account-not-found`), or not yet opened at `at` (`account-not-yet-opened`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn list_holds(
    State(app): State<AppState>,
    caller: Caller,
    PathParam(id): PathParam<Uuid>,
    QueryParams(params): QueryParams<HoldListParams>,
) -> Result<Response, ApiError> {
    ensure_visible(&app, caller, AccountId(id)).await?;
    let limit = page_size(params.limit)?;
    let before = position_cursor(params.cursor.as_deref())?;
    let at = instant("at", params.at)?;
    if at.is_some() && params.status.is_some_and(|status| status != HoldStatus::Open) {
        return Err(InvalidParam::new("status", "with `at`, only the holds open then are listed").into());
    }
    let filter = HoldFilter {
        status: params.status,
        at,
        before,
        limit,
    };
    let filter = &filter;
    let snapshot = read(
        &app,
        Reads::Holds,
        params.min_position,
        move |models| async move { models.holds(id, filter).await },
    )
    .await?;
    let page = match snapshot.value {
        HoldsRead::Page(page) => page,
        HoldsRead::UnknownAccount => return Err(ApiError::AccountNotFound(AccountId(id))),
        HoldsRead::NotYetOpened { opened_at } => {
            return Err(ApiError::NotYetOpened {
                account_id: AccountId(id),
                at: at.unwrap_or(opened_at),
            });
        }
    };
    let body = HoldPageView {
        account_id: id,
        next_cursor: page.next.map(|position| position.to_string()),
        items: page.items.into_iter().map(HoldView::from).collect(),
    };
    Ok(with_projection_position(
        axum::Json(body).into_response(),
        snapshot.position,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoldParams {
    /// Wait until the read model reflects this global position (from a command response).
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/accounts/{id}/holds/{hold_id}",
    tag = "holds",
    summary = "One hold",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("hold_id" = Uuid, Path, description = "Hold id"),
        HoldParams,
    ),
    responses(
        (status = 200, description = "The hold", body = HoldView,
            headers(("X-Projection-Position" = i64, description = "The log position the read model reflects"))),
        QueryProblems,
        (status = 404, description = "No such account (`account-not-found`) or hold (`hold-not-found`)", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn hold(
    State(app): State<AppState>,
    caller: Caller,
    PathParam((id, hold_id)): PathParam<(Uuid, Uuid)>,
    QueryParams(params): QueryParams<HoldParams>,
) -> Result<Response, ApiError> {
    ensure_visible(&app, caller, AccountId(id)).await?;
    // The hold, and when there is none the account, from the same database.
    let (snapshot, account_exists) = read(
        &app,
        Reads::Holds,
        params.min_position,
        move |models| async move {
            let snapshot = models.hold(id, hold_id).await?;
            let account_exists = match snapshot.value {
                Some(_) => true,
                None => models.account(id).await?.value.is_some(),
            };
            Ok((snapshot, account_exists))
        },
    )
    .await?;
    let Some(row) = snapshot.value else {
        return Err(if account_exists {
            ApiError::Rejected(AccountError::HoldNotFound(HoldId(hold_id)))
        } else {
            ApiError::AccountNotFound(AccountId(id))
        });
    };
    Ok(with_projection_position(
        axum::Json(HoldView::from(row)).into_response(),
        snapshot.position,
    ))
}
