//! The integration events: what other services may rely on, mapped from the domain events in
//! this one place.
//!
//! A domain event ([`AccountEvent`]) is this service's own record, shaped for its folds and
//! free to change through schema versions and upcasters. An integration event is a published
//! contract: its name carries its version (`money.deposited.v1`), its fields are plain JSON
//! (ids, integer minor units, currency codes, RFC 3339 times), and a change that would break a
//! consumer makes a `v2` beside the `v1`, never an edit of the `v1`. The mapping below is the
//! only code that knows both shapes, so a domain event can change without a consumer noticing.
//!
//! No personal data crosses: descriptions, holder names and the reasons given for a freeze stay
//! in the log, sealed with their owner's key ([`crate::privacy`]); a holder renamed publishes
//! nothing. A consumer that needs them asks the API, as the owner or an operator.
//!
//! The body follows the Standard Webhooks payload shape, `{"type", "timestamp", "data"}`, with
//! the business time as `timestamp` and, in `data`, the event's id and log position, the
//! account, and the fields of the fact.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::account::AccountEvent;
use crate::domain::ids::{AccountId, HoldId, OwnerId, TransactionId, TransferId};
use crate::domain::money::Currency;
use crate::store::RecordedEvent;

/// The published kinds of integration events, each with its version in its name.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    ToSchema,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
pub enum IntegrationEventType {
    #[serde(rename = "account.opened.v1")]
    #[strum(serialize = "account.opened.v1")]
    AccountOpenedV1,
    #[serde(rename = "account.frozen.v1")]
    #[strum(serialize = "account.frozen.v1")]
    AccountFrozenV1,
    #[serde(rename = "account.unfrozen.v1")]
    #[strum(serialize = "account.unfrozen.v1")]
    AccountUnfrozenV1,
    #[serde(rename = "account.closed.v1")]
    #[strum(serialize = "account.closed.v1")]
    AccountClosedV1,
    #[serde(rename = "money.deposited.v1")]
    #[strum(serialize = "money.deposited.v1")]
    MoneyDepositedV1,
    #[serde(rename = "money.withdrawn.v1")]
    #[strum(serialize = "money.withdrawn.v1")]
    MoneyWithdrawnV1,
    #[serde(rename = "transaction.reversed.v1")]
    #[strum(serialize = "transaction.reversed.v1")]
    TransactionReversedV1,
    #[serde(rename = "transfer.sent.v1")]
    #[strum(serialize = "transfer.sent.v1")]
    TransferSentV1,
    #[serde(rename = "transfer.received.v1")]
    #[strum(serialize = "transfer.received.v1")]
    TransferReceivedV1,
    #[serde(rename = "transfer.completed.v1")]
    #[strum(serialize = "transfer.completed.v1")]
    TransferCompletedV1,
    #[serde(rename = "transfer.failed.v1")]
    #[strum(serialize = "transfer.failed.v1")]
    TransferFailedV1,
    #[serde(rename = "hold.placed.v1")]
    #[strum(serialize = "hold.placed.v1")]
    HoldPlacedV1,
    #[serde(rename = "hold.captured.v1")]
    #[strum(serialize = "hold.captured.v1")]
    HoldCapturedV1,
    #[serde(rename = "hold.voided.v1")]
    #[strum(serialize = "hold.voided.v1")]
    HoldVoidedV1,
    #[serde(rename = "hold.expired.v1")]
    #[strum(serialize = "hold.expired.v1")]
    HoldExpiredV1,
    #[serde(rename = "account.overdrawn.v1")]
    #[strum(serialize = "account.overdrawn.v1")]
    AccountOverdrawnV1,
    #[serde(rename = "overdraft_fee.charged.v1")]
    #[strum(serialize = "overdraft_fee.charged.v1")]
    OverdraftFeeChargedV1,
}

impl IntegrationEventType {
    /// The published name, `money.deposited.v1`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// What a consumer learns from an event of this type (the OpenAPI `webhooks` entries).
    pub fn summary(self) -> &'static str {
        match self {
            Self::AccountOpenedV1 => "An account was opened.",
            Self::AccountFrozenV1 => "An account was frozen: it takes no withdrawals or outgoing transfers.",
            Self::AccountUnfrozenV1 => "A frozen account is active again.",
            Self::AccountClosedV1 => "An account was closed (its balance was zero).",
            Self::MoneyDepositedV1 => "Money was deposited into an account.",
            Self::MoneyWithdrawnV1 => "Money was withdrawn from an account.",
            Self::TransactionReversedV1 => {
                "A deposit or a withdrawal was reversed: `signed_amount` is what the reversal did to the balance."
            }
            Self::TransferSentV1 => "Money left the source account for a transfer; it is in flight.",
            Self::TransferReceivedV1 => "The money of a transfer arrived at the destination account.",
            Self::TransferCompletedV1 => "The source account learned that its transfer was received.",
            Self::TransferFailedV1 => {
                "The destination refused a transfer; the money went back to the source."
            }
            Self::HoldPlacedV1 => {
                "Money was set aside for a payment to settle later; it is no longer available."
            }
            Self::HoldCapturedV1 => "Some or all of a hold was paid out; the rest is available again.",
            Self::HoldVoidedV1 => "A hold was cancelled; all of it is available again.",
            Self::HoldExpiredV1 => "A hold lapsed at its deadline; all of it is available again.",
            Self::AccountOverdrawnV1 => {
                "A movement took the balance of an account with an overdraft fee below zero; the fee follows."
            }
            Self::OverdraftFeeChargedV1 => "The overdraft fee of one crossing below zero was charged, once.",
        }
    }
}

/// What every integration event says besides its fact: which event of the log it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EventSource {
    /// The domain event's id: the same for every delivery of this event (it is also the
    /// `webhook-id` header), so a consumer can drop duplicates by it.
    pub event_id: Uuid,
    /// The event's position in the log: increasing in log order, and per account in the order
    /// the account's events happened. `GET /events?after=` reads the log from here.
    pub position: i64,
    /// The account whose stream recorded the event.
    pub account_id: Uuid,
}

/// The fact an integration event publishes: one variant per [`IntegrationEventType`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Fact {
    AccountOpened(AccountOpenedV1),
    AccountFrozen(AccountFrozenV1),
    AccountUnfrozen(Empty),
    AccountClosed(Empty),
    MoneyDeposited(MovementV1),
    MoneyWithdrawn(MovementV1),
    TransactionReversed(TransactionReversedV1),
    TransferSent(TransferSentV1),
    TransferReceived(TransferReceivedV1),
    TransferCompleted(TransferCompletedV1),
    TransferFailed(TransferFailedV1),
    HoldPlaced(HoldPlacedV1),
    HoldCaptured(HoldCapturedV1),
    HoldVoided(HoldReleasedV1),
    HoldExpired(HoldReleasedV1),
    AccountOverdrawn(AccountOverdrawnV1),
    OverdraftFeeCharged(OverdraftFeeChargedV1),
}

/// No fields beyond the event's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Empty {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountOpenedV1 {
    pub owner_id: Uuid,
    /// ISO 4217 code.
    pub currency: String,
    /// How far below zero the balance may go, in minor units.
    pub overdraft_limit: i64,
    /// The most that may be withdrawn in a day, in minor units (absent: no limit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_withdrawal_limit: Option<i64>,
    /// Charged each time the balance crosses below zero, in minor units (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdraft_fee: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountFrozenV1 {
    /// Who froze it: `owner` or `bank`. (The reason given is personal data: not published.)
    pub by: String,
}

/// A deposit or a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MovementV1 {
    pub transaction_id: Uuid,
    /// Minor units, positive.
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransactionReversedV1 {
    /// The reversal's own transaction id.
    pub reversal_id: Uuid,
    /// The deposit or withdrawal reversed.
    pub transaction_id: Uuid,
    /// What the reversal did to the balance, in minor units: negative for a deposit reversed.
    pub signed_amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransferSentV1 {
    pub transfer_id: Uuid,
    pub transaction_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransferReceivedV1 {
    pub transfer_id: Uuid,
    pub transaction_id: Uuid,
    pub from_account_id: Uuid,
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransferCompletedV1 {
    pub transfer_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TransferFailedV1 {
    pub transfer_id: Uuid,
    /// The refund's transaction id on the source account.
    pub transaction_id: Uuid,
    pub to_account_id: Uuid,
    /// Minor units given back to the source.
    pub amount: i64,
    pub currency: String,
    /// Why the destination refused, a stable code (`destination-closed`, ...).
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HoldPlacedV1 {
    pub hold_id: Uuid,
    pub amount: i64,
    pub currency: String,
    /// When the hold lapses if nobody captures or voids it.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HoldCapturedV1 {
    pub hold_id: Uuid,
    /// The payment's transaction id.
    pub transaction_id: Uuid,
    /// Minor units paid out.
    pub amount: i64,
    /// Minor units of the hold not captured, available again.
    pub released: i64,
    pub currency: String,
}

/// A hold voided or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct HoldReleasedV1 {
    pub hold_id: Uuid,
    /// Minor units available again: the whole hold.
    pub released: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AccountOverdrawnV1 {
    /// The movement that took the balance below zero.
    pub transaction_id: Uuid,
    /// The balance after it, in minor units (negative).
    pub balance: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OverdraftFeeChargedV1 {
    /// The fee's own transaction id.
    pub transaction_id: Uuid,
    /// The movement that took the balance below zero (its `account.overdrawn.v1`).
    pub cause_transaction_id: Uuid,
    /// Minor units charged.
    pub amount: i64,
    pub currency: String,
}

/// An integration event, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrationEvent {
    pub event_type: IntegrationEventType,
    /// The business time of the fact.
    pub occurred_at: DateTime<Utc>,
    pub source: EventSource,
    pub fact: Fact,
}

/// The body on the wire: the Standard Webhooks payload shape.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    event_type: IntegrationEventType,
    timestamp: DateTime<Utc>,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    #[serde(flatten)]
    source: &'a EventSource,
    #[serde(flatten)]
    fact: &'a Fact,
}

impl IntegrationEvent {
    /// The integration event a recorded account event publishes, if any (`None` for events of
    /// other streams, and for a holder renamed, which has nothing but personal data to say).
    pub fn from_account_event(recorded: &RecordedEvent, event: &AccountEvent) -> Option<Self> {
        let (event_type, fact) = fact_of(event)?;
        Some(IntegrationEvent {
            event_type,
            occurred_at: event.occurred_at(),
            source: EventSource {
                event_id: recorded.event_id,
                position: recorded.global_position,
                account_id: recorded.stream_id,
            },
            fact,
        })
    }

    /// The JSON body, as sent and signed.
    pub fn to_body(&self) -> String {
        let body = Body {
            event_type: self.event_type,
            timestamp: self.occurred_at,
            data: Data {
                source: &self.source,
                fact: &self.fact,
            },
        };
        // Plain structs of strings and integers: serializing them cannot fail.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

/// The one mapping from the domain's facts to the published ones.
fn fact_of(event: &AccountEvent) -> Option<(IntegrationEventType, Fact)> {
    use IntegrationEventType as Type;
    let code = |currency: &Currency| currency.code().to_owned();
    let id = |id: &TransactionId| id.as_uuid();
    Some(match event {
        AccountEvent::AccountOpened {
            owner_id,
            currency,
            overdraft_limit,
            daily_withdrawal_limit,
            overdraft_fee,
            ..
        } => (
            Type::AccountOpenedV1,
            Fact::AccountOpened(AccountOpenedV1 {
                owner_id: OwnerId::as_uuid(owner_id),
                currency: code(currency),
                overdraft_limit: overdraft_limit.minor_units(),
                daily_withdrawal_limit: daily_withdrawal_limit.map(|limit| limit.minor_units()),
                overdraft_fee: overdraft_fee.map(|fee| fee.minor_units()),
            }),
        ),
        AccountEvent::AccountFrozen { by, .. } => (
            Type::AccountFrozenV1,
            Fact::AccountFrozen(AccountFrozenV1 {
                by: <&'static str>::from(*by).to_owned(),
            }),
        ),
        AccountEvent::AccountUnfrozen { .. } => (Type::AccountUnfrozenV1, Fact::AccountUnfrozen(Empty {})),
        AccountEvent::AccountClosed { .. } => (Type::AccountClosedV1, Fact::AccountClosed(Empty {})),
        AccountEvent::HolderRenamed { .. } => return None,
        AccountEvent::MoneyDeposited {
            transaction_id,
            amount,
            currency,
            ..
        } => (
            Type::MoneyDepositedV1,
            Fact::MoneyDeposited(MovementV1 {
                transaction_id: id(transaction_id),
                amount: amount.minor_units(),
                currency: code(currency),
            }),
        ),
        AccountEvent::MoneyWithdrawn {
            transaction_id,
            amount,
            currency,
            ..
        } => (
            Type::MoneyWithdrawnV1,
            Fact::MoneyWithdrawn(MovementV1 {
                transaction_id: id(transaction_id),
                amount: amount.minor_units(),
                currency: code(currency),
            }),
        ),
        AccountEvent::TransactionReversed {
            reversal_id,
            transaction_id,
            signed_amount,
            currency,
            ..
        } => (
            Type::TransactionReversedV1,
            Fact::TransactionReversed(TransactionReversedV1 {
                reversal_id: id(reversal_id),
                transaction_id: id(transaction_id),
                signed_amount: *signed_amount,
                currency: code(currency),
            }),
        ),
        AccountEvent::TransferDebited {
            transfer_id,
            transaction_id,
            to_account,
            amount,
            currency,
            ..
        } => (
            Type::TransferSentV1,
            Fact::TransferSent(TransferSentV1 {
                transfer_id: TransferId::as_uuid(transfer_id),
                transaction_id: id(transaction_id),
                to_account_id: AccountId::as_uuid(to_account),
                amount: amount.minor_units(),
                currency: code(currency),
            }),
        ),
        AccountEvent::TransferCredited {
            transfer_id,
            transaction_id,
            from_account,
            amount,
            currency,
            ..
        } => (
            Type::TransferReceivedV1,
            Fact::TransferReceived(TransferReceivedV1 {
                transfer_id: TransferId::as_uuid(transfer_id),
                transaction_id: id(transaction_id),
                from_account_id: AccountId::as_uuid(from_account),
                amount: amount.minor_units(),
                currency: code(currency),
            }),
        ),
        AccountEvent::TransferCompleted { transfer_id, .. } => (
            Type::TransferCompletedV1,
            Fact::TransferCompleted(TransferCompletedV1 {
                transfer_id: TransferId::as_uuid(transfer_id),
            }),
        ),
        AccountEvent::TransferRefunded {
            transfer_id,
            transaction_id,
            to_account,
            amount,
            currency,
            reason,
            ..
        } => (
            Type::TransferFailedV1,
            Fact::TransferFailed(TransferFailedV1 {
                transfer_id: TransferId::as_uuid(transfer_id),
                transaction_id: id(transaction_id),
                to_account_id: AccountId::as_uuid(to_account),
                amount: amount.minor_units(),
                currency: code(currency),
                reason: reason.to_string(),
            }),
        ),
        AccountEvent::HoldPlaced {
            hold_id,
            amount,
            currency,
            expires_at,
            ..
        } => (
            Type::HoldPlacedV1,
            Fact::HoldPlaced(HoldPlacedV1 {
                hold_id: HoldId::as_uuid(hold_id),
                amount: amount.minor_units(),
                currency: code(currency),
                expires_at: *expires_at,
            }),
        ),
        AccountEvent::HoldCaptured {
            hold_id,
            transaction_id,
            amount,
            released,
            currency,
            ..
        } => (
            Type::HoldCapturedV1,
            Fact::HoldCaptured(HoldCapturedV1 {
                hold_id: HoldId::as_uuid(hold_id),
                transaction_id: id(transaction_id),
                amount: amount.minor_units(),
                released: *released,
                currency: code(currency),
            }),
        ),
        AccountEvent::HoldVoided {
            hold_id,
            released,
            currency,
            ..
        } => (
            Type::HoldVoidedV1,
            Fact::HoldVoided(HoldReleasedV1 {
                hold_id: HoldId::as_uuid(hold_id),
                released: *released,
                currency: code(currency),
            }),
        ),
        AccountEvent::HoldExpired {
            hold_id,
            released,
            currency,
            ..
        } => (
            Type::HoldExpiredV1,
            Fact::HoldExpired(HoldReleasedV1 {
                hold_id: HoldId::as_uuid(hold_id),
                released: *released,
                currency: code(currency),
            }),
        ),
        AccountEvent::AccountOverdrawn {
            transaction_id,
            balance,
            currency,
            ..
        } => (
            Type::AccountOverdrawnV1,
            Fact::AccountOverdrawn(AccountOverdrawnV1 {
                transaction_id: id(transaction_id),
                balance: *balance,
                currency: code(currency),
            }),
        ),
        AccountEvent::OverdraftFeeCharged {
            transaction_id,
            cause,
            amount,
            currency,
            ..
        } => (
            Type::OverdraftFeeChargedV1,
            Fact::OverdraftFeeCharged(OverdraftFeeChargedV1 {
                transaction_id: id(transaction_id),
                cause_transaction_id: id(cause),
                amount: amount.minor_units(),
                currency: code(currency),
            }),
        ),
    })
}

/// The name of the schema of each type's fact in the OpenAPI components (for the `webhooks`
/// section of the document).
pub fn fact_schema_name(event_type: IntegrationEventType) -> Cow<'static, str> {
    use IntegrationEventType as Type;
    match event_type {
        Type::AccountOpenedV1 => AccountOpenedV1::name(),
        Type::AccountFrozenV1 => AccountFrozenV1::name(),
        Type::AccountUnfrozenV1 | Type::AccountClosedV1 => Empty::name(),
        Type::MoneyDepositedV1 | Type::MoneyWithdrawnV1 => MovementV1::name(),
        Type::TransactionReversedV1 => TransactionReversedV1::name(),
        Type::TransferSentV1 => TransferSentV1::name(),
        Type::TransferReceivedV1 => TransferReceivedV1::name(),
        Type::TransferCompletedV1 => TransferCompletedV1::name(),
        Type::TransferFailedV1 => TransferFailedV1::name(),
        Type::HoldPlacedV1 => HoldPlacedV1::name(),
        Type::HoldCapturedV1 => HoldCapturedV1::name(),
        Type::HoldVoidedV1 | Type::HoldExpiredV1 => HoldReleasedV1::name(),
        Type::AccountOverdrawnV1 => AccountOverdrawnV1::name(),
        Type::OverdraftFeeChargedV1 => OverdraftFeeChargedV1::name(),
    }
}

/// Every schema the contract's documentation refers to.
pub fn schemas() -> Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)> {
    fn entry<T: ToSchema>() -> (String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
        (T::name().into_owned(), T::schema())
    }
    vec![
        entry::<IntegrationEventType>(),
        entry::<EventSource>(),
        entry::<Empty>(),
        entry::<AccountOpenedV1>(),
        entry::<AccountFrozenV1>(),
        entry::<MovementV1>(),
        entry::<TransactionReversedV1>(),
        entry::<TransferSentV1>(),
        entry::<TransferReceivedV1>(),
        entry::<TransferCompletedV1>(),
        entry::<TransferFailedV1>(),
        entry::<HoldPlacedV1>(),
        entry::<HoldCapturedV1>(),
        entry::<HoldReleasedV1>(),
        entry::<AccountOverdrawnV1>(),
        entry::<OverdraftFeeChargedV1>(),
    ]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::{Value, json};
    use strum::VariantArray;

    use super::*;
    use crate::domain::account::{FrozenBy, RefundReason};
    use crate::domain::ids::TransferId;
    use crate::domain::money::Amount;
    use crate::domain::personal::Personal;
    use crate::projection::recorded_for_tests::{opening, recorded};

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0)
            .single()
            .expect("time")
    }

    fn eur() -> Currency {
        "EUR".parse().expect("EUR")
    }

    fn body_of(account: Uuid, event: &AccountEvent, position: i64) -> Option<(RecordedEvent, Value)> {
        let recorded = recorded(account, event, position);
        let published = IntegrationEvent::from_account_event(&recorded, event)?;
        let body = serde_json::from_str(&published.to_body()).expect("the body is JSON");
        Some((recorded, body))
    }

    #[test]
    fn type_names_are_the_same_for_serde_strum_and_parsing() {
        for event_type in IntegrationEventType::VARIANTS {
            let name = event_type.as_str();
            assert_eq!(serde_json::to_value(event_type).expect("serialize"), json!(name));
            assert_eq!(name.parse::<IntegrationEventType>().expect("parse"), *event_type);
            assert!(name.ends_with(".v1"), "{name} carries its version");
        }
    }

    #[test]
    fn a_deposit_publishes_its_source_and_fact_without_its_description() {
        let account = Uuid::now_v7();
        let transaction = Uuid::now_v7();
        let deposit = AccountEvent::MoneyDeposited {
            transaction_id: TransactionId(transaction),
            amount: Amount::new(1250).expect("amount"),
            currency: eur(),
            description: Some(Personal::new("rent from Alice Smith")),
            occurred_at: at(),
        };
        let (recorded, body) = body_of(account, &deposit, 42).expect("published");
        assert_eq!(
            body,
            json!({
                "type": "money.deposited.v1",
                "timestamp": "2026-12-06T10:00:00Z",
                "data": {
                    "event_id": recorded.event_id,
                    "position": 42,
                    "account_id": account,
                    "transaction_id": transaction,
                    "amount": 1250,
                    "currency": "EUR",
                }
            })
        );
    }

    #[test]
    fn no_personal_text_is_ever_published() {
        let account = Uuid::now_v7();
        let secret = "Alice Smith, secret reason";
        let renamed = AccountEvent::HolderRenamed {
            holder_name: Personal::new(secret),
            occurred_at: at(),
        };
        assert!(
            body_of(account, &renamed, 1).is_none(),
            "a rename has only personal data"
        );
        let frozen = AccountEvent::AccountFrozen {
            reason: Personal::new(secret),
            by: FrozenBy::Bank,
            occurred_at: at(),
        };
        let (_, body) = body_of(account, &frozen, 2).expect("published");
        assert_eq!(body["data"]["by"], "bank");
        let mut opened = opening(account, at());
        if let AccountEvent::AccountOpened { holder_name, .. } = &mut opened {
            *holder_name = Some(Personal::new(secret));
        }
        let debit = AccountEvent::TransferDebited {
            transfer_id: TransferId(Uuid::now_v7()),
            transaction_id: TransactionId(Uuid::now_v7()),
            to_account: AccountId(Uuid::now_v7()),
            amount: Amount::new(5).expect("amount"),
            currency: eur(),
            description: Some(Personal::new(secret)),
            occurred_at: at(),
        };
        for event in [frozen, opened, debit] {
            let (_, body) = body_of(account, &event, 3).expect("published");
            assert!(!body.to_string().contains("Alice"), "{body}");
        }
    }

    #[test]
    fn a_refund_publishes_a_failed_transfer_with_its_reason_code() {
        let account = Uuid::now_v7();
        let (to, transfer) = (Uuid::now_v7(), Uuid::now_v7());
        let refund = AccountEvent::TransferRefunded {
            transfer_id: TransferId(transfer),
            transaction_id: TransactionId(Uuid::now_v7()),
            to_account: AccountId(to),
            amount: Amount::new(700).expect("amount"),
            currency: eur(),
            reason: RefundReason::DestinationClosed,
            occurred_at: at(),
        };
        let (_, body) = body_of(account, &refund, 9).expect("published");
        assert_eq!(body["type"], "transfer.failed.v1");
        assert_eq!(body["data"]["transfer_id"], json!(transfer));
        assert_eq!(body["data"]["to_account_id"], json!(to));
        assert_eq!(body["data"]["amount"], 700);
        assert_eq!(body["data"]["reason"], "destination-closed");
    }

    #[test]
    fn every_fact_documented_is_a_schema_of_the_contract() {
        let names: Vec<String> = schemas().into_iter().map(|(name, _)| name).collect();
        for event_type in IntegrationEventType::VARIANTS {
            let name = fact_schema_name(*event_type);
            assert!(
                names.iter().any(|known| *known == name),
                "{name} is not in schemas()"
            );
        }
    }
}
