//! `/accounts`: the command endpoints of the account aggregate.
//!
//! Each request DTO converts with `TryFrom` into a validated input of domain values (invalid
//! values are one 400 listing every bad field). The handler builds the command from it for
//! [`AccountCommandHandler`](crate::command::AccountCommandHandler) and answers the new version
//! (`ETag`) and the global position of the last event.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{CommandOptions, CommandOutcome, Stamp};
use crate::domain::account::{
    AccountCommand, AccountEvent, Close, Deposit, Freeze, FrozenBy, OpenAccount, RenameHolder, Reverse,
    Unfreeze, Withdraw,
};
use crate::domain::ids::{AccountId, OwnerId, TransactionId};
use crate::domain::money::{Amount, Currency, Limit};
use crate::domain::personal::Personal;
use crate::domain::text::Text;
use crate::http::AppState;
use crate::http::auth::require_operator;
use crate::http::extract::{JsonBody, OptionalJsonBody, PathParam};
use crate::http::idempotency::{CommandRequest, IdempotencyKeyParam, Reply};
use crate::http::personal;
use crate::http::problem::{ApiError, InvalidParam, PROBLEM_JSON, Problem};
use crate::http::responses::{BodyProblems, CommandProblems, EmptyBodyCommandProblems};
use crate::http::schema;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_account))
        .routes(routes!(deposit))
        .routes(routes!(withdraw))
        .routes(routes!(freeze))
        .routes(routes!(unfreeze))
        .routes(routes!(close))
        .routes(routes!(rename_holder))
        .routes(routes!(reverse))
}

/// Request body of `POST /accounts`. Amounts are integers in the currency's minor unit
/// (cents for EUR: `1050` is 10.50 EUR).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "owner_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a10",
    "currency": "EUR",
    "overdraft_limit": 5000,
    "daily_withdrawal_limit": 100000,
    "initial_deposit": 25000,
    "holder_name": "Alice Martin",
    "overdraft_fee": 500
}))]
pub struct OpenAccountRequest {
    /// Optional client-chosen id; one is generated when absent.
    pub account_id: Option<Uuid>,
    pub owner_id: Uuid,
    /// ISO 4217 code, for example `EUR`.
    #[schema(value_type = schema::CurrencyCode)]
    pub currency: String,
    /// How far below zero the balance may go, in minor units (default 0).
    #[serde(default, deserialize_with = "schema::minor_units")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub overdraft_limit: i64,
    /// The most that may be withdrawn per UTC calendar day, in minor units; none when absent.
    #[serde(default, deserialize_with = "schema::optional_minor_units")]
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub daily_withdrawal_limit: Option<i64>,
    /// An opening deposit in minor units, recorded as its own `MoneyDeposited` event.
    #[serde(default, deserialize_with = "schema::optional_minor_units")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub initial_deposit: Option<i64>,
    /// The holder's name: personal data, stored sealed with the owner's key (see "Personal data"
    /// in docs/operating.md). Not blank, at most 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub holder_name: Option<String>,
    /// Charged, in minor units, each time a withdrawal, a transfer or a hold's capture takes the
    /// balance from zero or more to below zero: the account records `AccountOverdrawn`, and the
    /// overdraft fee policy reacts by charging the fee once (`OverdraftFeeCharged`, a movement
    /// of kind `overdraft_fee`). None when absent.
    #[serde(default, deserialize_with = "schema::optional_minor_units")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub overdraft_fee: Option<i64>,
}

/// Request body of deposits and withdrawals.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "amount": 2500, "currency": "EUR", "description": "groceries" }))]
pub struct MovementRequest {
    /// Minor units, `1..=10^15`.
    #[serde(deserialize_with = "schema::minor_units")]
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub amount: i64,
    /// Must equal the account's currency.
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

/// Request body of `POST /accounts/{id}/freeze`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "reason": "card reported stolen" }))]
pub struct FreezeRequest {
    /// Why the account is frozen: not blank, at most 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub reason: String,
}

/// Request body of `POST /accounts/{id}/unfreeze`: `{}` (or an empty body, or `null`), or why.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnfreezeRequest {
    /// Why the freeze is lifted, if said: not blank, at most 200 characters, no control
    /// characters. Recorded in `AccountUnfrozen`, sealed like a freeze's reason.
    pub reason: Option<String>,
}

impl utoipa::PartialSchema for UnfreezeRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
        let reason = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .min_length(Some(1))
            .max_length(Some(200))
            .pattern(Some(
                r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
            ))
            .description(Some(
                "Why the freeze is lifted, if said: not blank, at most 200 characters, no control \
                 characters. Recorded in `AccountUnfrozen`, sealed like a freeze's reason.",
            ));
        // `null` and an empty body mean `{}` (see `OptionalJsonBody`): the schema says so, as
        // the one of `EmptyRequest` does.
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .property("reason", reason)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(
                "Request body of `POST /accounts/{id}/unfreeze`: `{}`, `null` or an empty body, or \
                 `{\"reason\": ...}`, sent as `Content-Type: application/json`.",
            ))
            .examples([serde_json::json!({ "reason": "card found" })])
            .into()
    }
}

impl ToSchema for UnfreezeRequest {}

/// Request body of `POST /accounts/{id}/holder-name`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "holder_name": "Alice Martin-Durand" }))]
pub struct HolderNameRequest {
    /// Personal data, stored sealed with the owner's key: not blank, at most 200 characters,
    /// no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub holder_name: String,
}

/// Request body of `/unfreeze`, `/close`, reversals and voids: an empty object, or an empty body (sent
/// as `Content-Type: application/json` all the same).
#[derive(Debug, Default)]
pub struct EmptyRequest {}

impl utoipa::PartialSchema for EmptyRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, SchemaType, Type};
        // `null` is accepted as "no parameters" as much as an empty body is (see
        // `OptionalJsonBody`): the schema says so, or a client generated from it would be wrong.
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(
                "Request body of `/unfreeze`, `/close`, reversals and voids: an empty object, `null`, or \
                 an empty body, sent as `Content-Type: application/json`.",
            ))
            .into()
    }
}

impl ToSchema for EmptyRequest {}

/// Only a JSON object without members. (A derived `Deserialize` for a struct without fields
/// would also accept `[]`, a sequence of zero fields.)
impl<'de> Deserialize<'de> for EmptyRequest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let members = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        match members.keys().next() {
            Some(name) => Err(D::Error::custom(format!(
                "unknown field `{name}`: this command takes no parameters"
            ))),
            None => Ok(EmptyRequest {}),
        }
    }
}

/// An [`OpenAccountRequest`] whose values are valid.
#[derive(Debug)]
struct ValidOpenAccount {
    account_id: Option<AccountId>,
    owner_id: OwnerId,
    currency: Currency,
    overdraft_limit: Limit,
    daily_withdrawal_limit: Option<Limit>,
    initial_deposit: Option<Amount>,
    holder_name: Option<Text>,
    overdraft_fee: Option<Amount>,
}

impl TryFrom<OpenAccountRequest> for ValidOpenAccount {
    type Error = ApiError;

    fn try_from(request: OpenAccountRequest) -> Result<Self, ApiError> {
        let currency = InvalidParam::check("currency", request.currency.parse::<Currency>());
        let overdraft_limit = InvalidParam::check("overdraft_limit", Limit::new(request.overdraft_limit));
        let daily_withdrawal_limit = InvalidParam::check(
            "daily_withdrawal_limit",
            request.daily_withdrawal_limit.map(Limit::new).transpose(),
        );
        let initial_deposit = InvalidParam::check(
            "initial_deposit",
            request.initial_deposit.map(Amount::new).transpose(),
        );
        let holder_name = InvalidParam::check("holder_name", request.holder_name.map(Text::new).transpose());
        let overdraft_fee = InvalidParam::check(
            "overdraft_fee",
            request.overdraft_fee.map(Amount::new).transpose(),
        );
        match (
            currency,
            overdraft_limit,
            daily_withdrawal_limit,
            initial_deposit,
            holder_name,
            overdraft_fee,
        ) {
            (
                Ok(currency),
                Ok(overdraft_limit),
                Ok(daily_withdrawal_limit),
                Ok(initial_deposit),
                Ok(holder_name),
                Ok(overdraft_fee),
            ) => Ok(ValidOpenAccount {
                account_id: request.account_id.map(AccountId),
                owner_id: OwnerId(request.owner_id),
                currency,
                overdraft_limit,
                daily_withdrawal_limit,
                initial_deposit,
                holder_name,
                overdraft_fee,
            }),
            (
                currency,
                overdraft_limit,
                daily_withdrawal_limit,
                initial_deposit,
                holder_name,
                overdraft_fee,
            ) => Err(ApiError::invalid_fields([
                currency.err(),
                overdraft_limit.err(),
                daily_withdrawal_limit.err(),
                initial_deposit.err(),
                holder_name.err(),
                overdraft_fee.err(),
            ])),
        }
    }
}

impl ValidOpenAccount {
    /// The opening, with the holder's name as sealed for the owner.
    fn command(&self, account_id: AccountId, holder_name: Option<Personal>, stamp: Stamp) -> AccountCommand {
        AccountCommand::Open(OpenAccount {
            account_id,
            owner_id: self.owner_id,
            currency: self.currency,
            overdraft_limit: self.overdraft_limit,
            daily_withdrawal_limit: self.daily_withdrawal_limit,
            initial_deposit: self.initial_deposit.map(|amount| (stamp.transaction_id, amount)),
            holder_name,
            overdraft_fee: self.overdraft_fee,
            occurred_at: stamp.occurred_at,
        })
    }
}

/// A [`MovementRequest`] whose values are valid.
#[derive(Debug)]
struct ValidMovement {
    amount: Amount,
    currency: Currency,
    description: Option<Text>,
}

impl TryFrom<MovementRequest> for ValidMovement {
    type Error = ApiError;

    fn try_from(request: MovementRequest) -> Result<Self, ApiError> {
        let amount = InvalidParam::check("amount", Amount::new(request.amount));
        let currency = InvalidParam::check("currency", request.currency.parse::<Currency>());
        let description = InvalidParam::check("description", request.description.map(Text::new).transpose());
        match (amount, currency, description) {
            (Ok(amount), Ok(currency), Ok(description)) => Ok(ValidMovement {
                amount,
                currency,
                description,
            }),
            (amount, currency, description) => Err(ApiError::invalid_fields([
                amount.err(),
                currency.err(),
                description.err(),
            ])),
        }
    }
}

impl ValidMovement {
    /// The deposit, with the description as sealed for the account's owner.
    fn deposit(&self, description: Option<Personal>, stamp: Stamp) -> AccountCommand {
        AccountCommand::Deposit(Deposit {
            transaction_id: stamp.transaction_id,
            amount: self.amount,
            currency: self.currency,
            description,
            occurred_at: stamp.occurred_at,
        })
    }

    fn withdraw(&self, description: Option<Personal>, stamp: Stamp) -> AccountCommand {
        AccountCommand::Withdraw(Withdraw {
            transaction_id: stamp.transaction_id,
            amount: self.amount,
            currency: self.currency,
            description,
            occurred_at: stamp.occurred_at,
        })
    }
}

/// A [`FreezeRequest`] whose reason is valid.
#[derive(Debug)]
struct ValidFreeze {
    reason: Text,
}

impl TryFrom<FreezeRequest> for ValidFreeze {
    type Error = ApiError;

    fn try_from(request: FreezeRequest) -> Result<Self, ApiError> {
        let reason = InvalidParam::check("reason", Text::new(request.reason))?;
        Ok(ValidFreeze { reason })
    }
}

impl ValidFreeze {
    /// The freeze, with the reason as sealed for the account's owner.
    fn command(reason: Personal, by: FrozenBy, stamp: Stamp) -> AccountCommand {
        AccountCommand::Freeze(Freeze {
            reason,
            by,
            occurred_at: stamp.occurred_at,
        })
    }
}

/// Who freezes or unfreezes: a customer key acts as the account's owner, an operator (and the
/// developer in local mode) as the bank.
fn acting_as(caller: Caller) -> FrozenBy {
    match caller.owner() {
        Some(_) => FrozenBy::Owner,
        None => FrozenBy::Bank,
    }
}

/// What every command answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "account_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a11",
    "version": 3,
    "position": 42,
    "transaction_id": "0190f5d2-7c1e-7a3b-9f00-5d1f3b8e2a12"
}))]
pub struct CommandResponse {
    pub account_id: Uuid,
    /// The account's stream version after the command; also sent as `ETag`.
    pub version: i64,
    /// The global log position of the command's last event; pass it as `min_position` to
    /// queries to read your own write.
    pub position: i64,
    /// The money movement the command recorded, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<Uuid>,
}

/// How an account command answers: `status` with a [`CommandResponse`] and the new `ETag`
/// (recorded as such for its `Idempotency-Key`).
pub(crate) fn reply(status: StatusCode) -> Reply {
    Reply::new(status, command_response, |_| None)
}

fn command_response(outcome: &CommandOutcome) -> serde_json::Value {
    let body = CommandResponse {
        account_id: outcome.id.as_uuid(),
        version: outcome.version,
        position: outcome.position,
        transaction_id: movement_id(outcome).map(|id| id.as_uuid()),
    };
    serde_json::to_value(body).unwrap_or_default()
}

#[utoipa::path(
    post,
    path = "/accounts",
    tag = "accounts",
    summary = "Open an account",
    description = "Records `AccountOpened` (and `MoneyDeposited` for an `initial_deposit`). \
        The new account is at version 1, or 2 with an opening deposit. With a customer key the \
        account is its owner's: `owner_id` must be that owner.",
    params(IdempotencyKeyParam),
    request_body = OpenAccountRequest,
    responses(
        (status = 201, description = "Account opened", body = CommandResponse,
            headers(("Location" = String, description = "`/accounts/{id}`"),
                    ("ETag" = String, description = "The new version, quoted")),
            links(
                ("GetAccount" = (operation_id = "account", parameters(("id" = "$response.body#/account_id")), description = "Read the account")),
                ("GetBalance" = (operation_id = "balance", parameters(("id" = "$response.body#/account_id")), description = "Its balance, now or at an instant")),
                ("GetTransactions" = (operation_id = "account_transactions", parameters(("id" = "$response.body#/account_id")), description = "Its transaction history")),
                ("GetEvents" = (operation_id = "account_events", parameters(("id" = "$response.body#/account_id")), description = "Its audit trail")),
                ("Deposit" = (operation_id = "deposit", parameters(("id" = "$response.body#/account_id")), description = "Deposit into it")),
                ("Withdraw" = (operation_id = "withdraw", parameters(("id" = "$response.body#/account_id")), description = "Withdraw from it")),
                ("Freeze" = (operation_id = "freeze", parameters(("id" = "$response.body#/account_id")), description = "Freeze it")),
                ("Unfreeze" = (operation_id = "unfreeze", parameters(("id" = "$response.body#/account_id")), description = "Unfreeze it")),
                ("Close" = (operation_id = "close", parameters(("id" = "$response.body#/account_id")), description = "Close it")),
                ("PlaceHold" = (operation_id = "place_hold", parameters(("id" = "$response.body#/account_id")), description = "Place a hold on it")),
                ("GetHolds" = (operation_id = "list_holds", parameters(("id" = "$response.body#/account_id")), description = "Its holds"))
            )),
        BodyProblems,
        (status = 403, description = "A customer key opening an account for another owner (`forbidden`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The id already names an account (anyone's) or a transfer (`id-in-use`): an id names one stream for good, and the answer is the same whoever owns it", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`idempotency-key-reused` when the `Idempotency-Key` named another request", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn open_account(
    State(app): State<AppState>,
    command: CommandRequest,
    JsonBody(request): JsonBody<OpenAccountRequest>,
) -> Result<Response, ApiError> {
    let request = ValidOpenAccount::try_from(request)?;
    if command.caller.owner().is_some_and(|own| own != request.owner_id) {
        return Err(ApiError::Forbidden(
            "a customer key opens accounts for its own owner only".into(),
        ));
    }
    let account_id = request.account_id.unwrap_or_else(|| AccountId(app.ids.new_id()));
    let reply = Reply::new(StatusCode::CREATED, command_response, |outcome| {
        Some(format!("/accounts/{}", outcome.id))
    });
    let options = CommandOptions {
        opens: true,
        ..command.ignoring_if_match().options(&reply)
    };
    let holder_name = match &request.holder_name {
        Some(name) => Some(personal::seal_for(&app, request.owner_id, name, &options).await?),
        None => None,
    };
    let outcome = app
        .commands
        .handle_with(account_id, options, |stamp| {
            request.command(account_id, holder_name.clone(), stamp)
        })
        .await?;
    Ok(reply.to(&outcome))
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/deposits",
    tag = "accounts",
    summary = "Deposit money",
    description = "Records `MoneyDeposited`. Frozen accounts accept deposits; closed ones do not.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        CommandRequest,
    ),
    request_body = MovementRequest,
    responses(
        (status = 201, description = "Deposit recorded", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        CommandProblems,
        (status = 422, description = "Business rule broken: `currency-mismatch`, `account-closed`, `balance-overflow`; `idempotency-key-reused` when the `Idempotency-Key` named another request; `personal-data-erased` when it carries personal text (a description, a reason) of an owner whose personal data was erased", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn deposit(
    State(app): State<AppState>,
    PathParam(id): PathParam<Uuid>,
    command: CommandRequest,
    JsonBody(request): JsonBody<MovementRequest>,
) -> Result<Response, ApiError> {
    let movement = ValidMovement::try_from(request)?;
    let reply = reply(StatusCode::CREATED);
    let options = command.options(&reply);
    let description = personal::seal(&app, AccountId(id), movement.description.as_ref(), &options).await?;
    let outcome = app
        .commands
        .handle_with(AccountId(id), options, |stamp| {
            movement.deposit(description.clone(), stamp)
        })
        .await?;
    Ok(reply.to(&outcome))
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/withdrawals",
    tag = "accounts",
    summary = "Withdraw money",
    description = "Records `MoneyWithdrawn`. The balance may not fall below `-overdraft_limit`, \
        the account must not be frozen or closed, and the day's withdrawals (UTC) may not exceed \
        the daily limit.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        CommandRequest,
    ),
    request_body = MovementRequest,
    responses(
        (status = 201, description = "Withdrawal recorded", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        CommandProblems,
        (status = 422, description = "Business rule broken: `insufficient-funds`, `account-frozen`, `account-closed`, `currency-mismatch`, `daily-limit-exceeded`; `idempotency-key-reused` when the `Idempotency-Key` named another request; `personal-data-erased` when it carries personal text (a description, a reason) of an owner whose personal data was erased", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn withdraw(
    State(app): State<AppState>,
    PathParam(id): PathParam<Uuid>,
    command: CommandRequest,
    JsonBody(request): JsonBody<MovementRequest>,
) -> Result<Response, ApiError> {
    let movement = ValidMovement::try_from(request)?;
    let reply = reply(StatusCode::CREATED);
    let options = command.options(&reply);
    let description = personal::seal(&app, AccountId(id), movement.description.as_ref(), &options).await?;
    let outcome = app
        .commands
        .handle_with(AccountId(id), options, |stamp| {
            movement.withdraw(description.clone(), stamp)
        })
        .await?;
    Ok(reply.to(&outcome))
}

/// The money movement a command recorded (a deposit, a withdrawal, a reversal, a capture), if
/// any.
fn movement_id(outcome: &CommandOutcome) -> Option<TransactionId> {
    outcome.events.iter().find_map(|event| match event {
        AccountEvent::MoneyDeposited { transaction_id, .. }
        | AccountEvent::MoneyWithdrawn { transaction_id, .. } => Some(*transaction_id),
        AccountEvent::TransactionReversed { reversal_id, .. } => Some(*reversal_id),
        AccountEvent::HoldCaptured { transaction_id, .. } => Some(*transaction_id),
        _ => None,
    })
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/freeze",
    tag = "accounts",
    summary = "Freeze an account",
    description = "Records `AccountFrozen` with who froze it: `owner` for a customer key (a lost \
        card; the owner may lift it), `bank` for an operator (only an operator lifts it; the bank \
        may also take over an owner's freeze). A frozen account accepts deposits but no \
        withdrawals and cannot be closed.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        CommandRequest,
    ),
    request_body = FreezeRequest,
    responses(
        (status = 200, description = "Account frozen", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        CommandProblems,
        (status = 422, description = "Business rule broken: `account-already-frozen`, `account-closed`; `idempotency-key-reused` when the `Idempotency-Key` named another request; `personal-data-erased` when it carries personal text (a description, a reason) of an owner whose personal data was erased", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn freeze(
    State(app): State<AppState>,
    PathParam(id): PathParam<Uuid>,
    command: CommandRequest,
    JsonBody(request): JsonBody<FreezeRequest>,
) -> Result<Response, ApiError> {
    let freeze = ValidFreeze::try_from(request)?;
    let by = acting_as(command.caller);
    let reply = reply(StatusCode::OK);
    let options = command.options(&reply);
    let reason = personal::seal(&app, AccountId(id), Some(&freeze.reason), &options)
        .await?
        .ok_or(ApiError::AccountNotFound(AccountId(id)))?;
    let outcome = app
        .commands
        .handle_with(AccountId(id), options, |stamp| {
            ValidFreeze::command(reason.clone(), by, stamp)
        })
        .await?;
    Ok(reply.to(&outcome))
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/unfreeze",
    tag = "accounts",
    summary = "Unfreeze an account",
    description = "Records `AccountUnfrozen`, with the `reason` if one is given. The owner may lift \
        its own freeze, an operator any. The body is `{}` (or empty), or `{\"reason\": ...}`, as \
        `application/json`.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        CommandRequest,
    ),
    request_body(content = UnfreezeRequest, description = "`{}` or `{\"reason\": ...}` (an empty body or `null` mean `{}`; either way `Content-Type: application/json`)"),
    responses(
        (status = 200, description = "Account unfrozen", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        CommandProblems,
        (status = 403, description = "A customer key lifting a freeze the bank imposed (`frozen-by-bank`): only an operator lifts it", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Business rule broken: `account-not-frozen`, `account-closed`; `idempotency-key-reused` when the `Idempotency-Key` named another request; `personal-data-erased` when it carries a reason of an owner whose personal data was erased", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn unfreeze(
    State(app): State<AppState>,
    PathParam(id): PathParam<Uuid>,
    command: CommandRequest,
    OptionalJsonBody(request): OptionalJsonBody<UnfreezeRequest>,
) -> Result<Response, ApiError> {
    let reason = request
        .reason
        .map(|reason| InvalidParam::check("reason", Text::new(reason)))
        .transpose()?;
    let by = acting_as(command.caller);
    let reply = reply(StatusCode::OK);
    let options = command.options(&reply);
    let reason = match &reason {
        Some(reason) => Some(
            personal::seal(&app, AccountId(id), Some(reason), &options)
                .await?
                .ok_or(ApiError::AccountNotFound(AccountId(id)))?,
        ),
        None => None,
    };
    let outcome = app
        .commands
        .handle_with(AccountId(id), options, |stamp| {
            AccountCommand::Unfreeze(Unfreeze {
                by,
                reason: reason.clone(),
                occurred_at: stamp.occurred_at,
            })
        })
        .await?;
    Ok(reply.to(&outcome))
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/holder-name",
    tag = "accounts",
    summary = "Change the holder's name",
    description = "Records `HolderRenamed`, on any account not closed (a frozen one too). The name \
        is personal data: sealed with the owner's key in the event and the read model, and `null` \
        once the owner's personal data is erased.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        CommandRequest,
    ),
    request_body = HolderNameRequest,
    responses(
        (status = 200, description = "Name recorded", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        CommandProblems,
        (status = 422, description = "Business rule broken: `account-closed`; `idempotency-key-reused` when the `Idempotency-Key` named another request; `personal-data-erased` when the owner's personal data was erased", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn rename_holder(
    State(app): State<AppState>,
    PathParam(id): PathParam<Uuid>,
    command: CommandRequest,
    JsonBody(request): JsonBody<HolderNameRequest>,
) -> Result<Response, ApiError> {
    let name = InvalidParam::check("holder_name", Text::new(request.holder_name))?;
    let reply = reply(StatusCode::OK);
    let options = command.options(&reply);
    let holder_name = personal::seal(&app, AccountId(id), Some(&name), &options)
        .await?
        .ok_or(ApiError::AccountNotFound(AccountId(id)))?;
    let outcome = app
        .commands
        .handle_with(AccountId(id), options, |stamp| {
            AccountCommand::RenameHolder(RenameHolder {
                holder_name: holder_name.clone(),
                occurred_at: stamp.occurred_at,
            })
        })
        .await?;
    Ok(reply.to(&outcome))
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/close",
    tag = "accounts",
    summary = "Close an account",
    description = "Records `AccountClosed`. Only at a zero balance and not while frozen; a closed \
        account accepts no further commands. The body is `{}` (or empty), as `application/json`.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        CommandRequest,
    ),
    request_body(content = EmptyRequest, description = "`{}` (an empty body or `null` mean the same; either way `Content-Type: application/json`)"),
    responses(
        (status = 200, description = "Account closed", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        EmptyBodyCommandProblems,
        (status = 422, description = "Business rule broken: `non-zero-balance`, `account-frozen`, `account-closed`, `transfers-pending`, `holds-open`, `overdraft-fees-due` (a fee recorded as due is charged a moment later: retry then); `idempotency-key-reused` when the `Idempotency-Key` named another request", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn close(
    State(app): State<AppState>,
    PathParam(id): PathParam<Uuid>,
    command: CommandRequest,
    OptionalJsonBody(EmptyRequest {}): OptionalJsonBody<EmptyRequest>,
) -> Result<Response, ApiError> {
    let reply = reply(StatusCode::OK);
    let outcome = app
        .commands
        .handle_with(AccountId(id), command.options(&reply), |stamp| {
            AccountCommand::Close(Close {
                occurred_at: stamp.occurred_at,
            })
        })
        .await?;
    Ok(reply.to(&outcome))
}

#[utoipa::path(
    post,
    path = "/accounts/{id}/transactions/{transaction_id}/reversal",
    tag = "accounts",
    summary = "Reverse a deposit, a withdrawal, a hold's capture or an overdraft fee",
    description = "Records `TransactionReversed`: reversing a deposit debits the account (and obeys \
        the overdraft rule; not while frozen), reversing a withdrawal, a capture or an overdraft \
        fee credits it (a capture's reversal is the bank's chargeback, a fee's the bank waiving \
        it). Only within 30 \
        days of the original, only once, only on an account that is not closed. Transfer legs \
        cannot be reversed: send a transfer back instead. The body is `{}` (or empty), as `application/json`.",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("transaction_id" = Uuid, Path, description = "The deposit, withdrawal, capture or overdraft fee to reverse"),
        CommandRequest,
    ),
    request_body(content = EmptyRequest, description = "`{}` (an empty body or `null` mean the same; either way `Content-Type: application/json`)"),
    responses(
        (status = 201, description = "Reversal recorded; `transaction_id` is the reversal's own id", body = CommandResponse,
            headers(("ETag" = String, description = "The new version, quoted"))),
        EmptyBodyCommandProblems,
        (status = 403, description = "A customer key (`forbidden`): reversals are the bank's, for operator keys only", body = Problem, content_type = PROBLEM_JSON),
        (status = 404, description = "No such account (`account-not-found`) or transaction (`transaction-not-found`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "Business rule broken: `reversal-window-closed`, `already-reversed`, `transfer-not-reversible`, `insufficient-funds`, `account-frozen`, `account-closed`; `idempotency-key-reused` when the `Idempotency-Key` named another request", body = Problem, content_type = PROBLEM_JSON),
    )
)]
pub(crate) async fn reverse(
    State(app): State<AppState>,
    PathParam((id, transaction_id)): PathParam<(Uuid, Uuid)>,
    command: CommandRequest,
    OptionalJsonBody(EmptyRequest {}): OptionalJsonBody<EmptyRequest>,
) -> Result<Response, ApiError> {
    // Undoing a movement is the bank's decision, never the customer's own.
    require_operator(command.caller)?;
    let reply = reply(StatusCode::CREATED);
    let options = CommandOptions {
        movement: Some(TransactionId(transaction_id)),
        ..command.options(&reply)
    };
    let outcome = app
        .commands
        .handle_with(AccountId(id), options, |stamp| {
            AccountCommand::Reverse(Reverse {
                reversal_id: stamp.transaction_id,
                transaction_id: TransactionId(transaction_id),
                original: stamp.movement,
                occurred_at: stamp.occurred_at,
            })
        })
        .await?;
    Ok(reply.to(&outcome))
}
