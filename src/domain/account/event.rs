//! What happened to an account. Past-tense facts, never changed once recorded.
//!
//! The serde representation is the stored payload: `{"type": "MoneyDeposited", "data": {...}}`.
//! Renaming a variant or a field breaks every stored event, so changes go through a new schema
//! version and an upcaster (see `crate::store::codec`), never through an edit here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{FrozenBy, RefundReason};
use crate::domain::ids::{AccountId, HoldId, OwnerId, TransactionId, TransferId};
use crate::domain::money::{Amount, Currency, Limit};
use crate::domain::personal::Personal;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::EnumDiscriminants)]
#[serde(tag = "type", content = "data")]
#[strum_discriminants(
    name(AccountEventType),
    vis(pub),
    derive(
        Hash,
        Serialize,
        Deserialize,
        strum::Display,
        strum::EnumString,
        strum::IntoStaticStr,
        strum::VariantArray
    ),
    doc = "The kind of an [`AccountEvent`], without its data: the stored `event_type`, as a type.\n\n\
           Its strings are the variant names, like the serde tag of the event, so a stored \
           `event_type` parses back with `str::parse`."
)]
pub enum AccountEvent {
    AccountOpened {
        account_id: AccountId,
        owner_id: OwnerId,
        currency: Currency,
        overdraft_limit: Limit,
        daily_withdrawal_limit: Option<Limit>,
        /// Since holder names exist; absent from the payload when none was given, so the
        /// events stored before read (and hash) as they were.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder_name: Option<Personal>,
        /// What going overdrawn costs (see [`AccountEvent::AccountOverdrawn`]). Since overdraft
        /// fees exist; absent from the payload when there is none, so older events read (and
        /// hash) as they were.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overdraft_fee: Option<Amount>,
        occurred_at: DateTime<Utc>,
    },
    MoneyDeposited {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Personal>,
        occurred_at: DateTime<Utc>,
    },
    MoneyWithdrawn {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Personal>,
        occurred_at: DateTime<Utc>,
    },
    AccountFrozen {
        reason: Personal,
        /// Since schema version 2; version 1 freezes were all the bank's (see the codec).
        by: FrozenBy,
        occurred_at: DateTime<Utc>,
    },
    AccountUnfrozen {
        /// Why, when the one lifting the freeze said (personal text, sealed like a freeze's
        /// reason). Since schema version 2; version 1 had none, and reads as `null` (see the
        /// codec's upcaster).
        reason: Option<Personal>,
        occurred_at: DateTime<Utc>,
    },
    AccountClosed {
        occurred_at: DateTime<Utc>,
    },
    /// The holder's name, recorded anew.
    HolderRenamed {
        holder_name: Personal,
        occurred_at: DateTime<Utc>,
    },
    /// Money left the source for a transfer; it is in flight until credited or refunded.
    TransferDebited {
        transfer_id: TransferId,
        transaction_id: TransactionId,
        to_account: AccountId,
        amount: Amount,
        currency: Currency,
        description: Option<Personal>,
        occurred_at: DateTime<Utc>,
    },
    /// Money of a transfer arrived at the destination.
    TransferCredited {
        transfer_id: TransferId,
        transaction_id: TransactionId,
        from_account: AccountId,
        amount: Amount,
        currency: Currency,
        description: Option<Personal>,
        occurred_at: DateTime<Utc>,
    },
    /// The source learned that its transfer was credited.
    TransferCompleted {
        transfer_id: TransferId,
        occurred_at: DateTime<Utc>,
    },
    /// The destination refused; the money went back to the source.
    TransferRefunded {
        transfer_id: TransferId,
        transaction_id: TransactionId,
        /// The destination that refused.
        to_account: AccountId,
        amount: Amount,
        currency: Currency,
        reason: RefundReason,
        occurred_at: DateTime<Utc>,
    },
    /// A deposit (debited back) or a withdrawal (credited back) was reversed.
    TransactionReversed {
        reversal_id: TransactionId,
        transaction_id: TransactionId,
        /// Positive when the reversal credits the account, negative when it debits it.
        signed_amount: i64,
        currency: Currency,
        occurred_at: DateTime<Utc>,
    },
    /// Money was set aside for a payment authorized now and settled later: it stays in the
    /// balance but is no longer available, until captured, voided or expired.
    HoldPlaced {
        hold_id: HoldId,
        amount: Amount,
        currency: Currency,
        description: Option<Personal>,
        /// When the hold lapses if nobody captures or voids it.
        expires_at: DateTime<Utc>,
        occurred_at: DateTime<Utc>,
    },
    /// Some or all of a hold was paid out (a movement, `transaction_id`); the rest, `released`,
    /// is available again. The hold is over.
    HoldCaptured {
        hold_id: HoldId,
        transaction_id: TransactionId,
        amount: Amount,
        /// Minor units of the hold not captured, released (0 for a full capture).
        released: i64,
        currency: Currency,
        occurred_at: DateTime<Utc>,
    },
    /// The hold was cancelled: all of it is available again.
    HoldVoided {
        hold_id: HoldId,
        /// Minor units released: the whole hold.
        released: i64,
        currency: Currency,
        occurred_at: DateTime<Utc>,
    },
    /// A movement (`transaction_id`) took the balance from zero or more to below zero, on an
    /// account whose terms carry an overdraft fee. The account records the fact and nothing
    /// more: the overdraft fee policy (`crate::policy::overdraft_fees`) reacts to it.
    AccountOverdrawn {
        /// The movement that crossed zero: a withdrawal, a transfer's debit or a hold's capture.
        transaction_id: TransactionId,
        /// The balance after it, in minor units (negative).
        balance: i64,
        currency: Currency,
        occurred_at: DateTime<Utc>,
    },
    /// The overdraft fee of the crossing `cause` was charged: a movement of its own
    /// (`transaction_id`), once per crossing.
    OverdraftFeeCharged {
        transaction_id: TransactionId,
        /// The movement that took the balance below zero (its `AccountOverdrawn`).
        cause: TransactionId,
        amount: Amount,
        currency: Currency,
        occurred_at: DateTime<Utc>,
    },
    /// Nobody captured or voided the hold before its deadline: all of it is available again.
    /// `occurred_at` is when the expiry was recorded, at or after `expires_at`.
    HoldExpired {
        hold_id: HoldId,
        /// Minor units released: the whole hold.
        released: i64,
        currency: Currency,
        occurred_at: DateTime<Utc>,
    },
}

impl AccountEvent {
    /// The stored `event_type`, equal to the serde tag.
    pub fn event_type(&self) -> &'static str {
        AccountEventType::from(self).into()
    }

    /// The business time of the fact, chosen by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            AccountEvent::AccountOpened { occurred_at, .. }
            | AccountEvent::MoneyDeposited { occurred_at, .. }
            | AccountEvent::MoneyWithdrawn { occurred_at, .. }
            | AccountEvent::AccountFrozen { occurred_at, .. }
            | AccountEvent::AccountUnfrozen { occurred_at, .. }
            | AccountEvent::AccountClosed { occurred_at }
            | AccountEvent::HolderRenamed { occurred_at, .. }
            | AccountEvent::TransferDebited { occurred_at, .. }
            | AccountEvent::TransferCredited { occurred_at, .. }
            | AccountEvent::TransferCompleted { occurred_at, .. }
            | AccountEvent::TransferRefunded { occurred_at, .. }
            | AccountEvent::TransactionReversed { occurred_at, .. }
            | AccountEvent::HoldPlaced { occurred_at, .. }
            | AccountEvent::HoldCaptured { occurred_at, .. }
            | AccountEvent::HoldVoided { occurred_at, .. }
            | AccountEvent::HoldExpired { occurred_at, .. }
            | AccountEvent::AccountOverdrawn { occurred_at, .. }
            | AccountEvent::OverdraftFeeCharged { occurred_at, .. } => *occurred_at,
        }
    }
}

impl AccountEvent {
    /// How the event changes the balance, in minor units (0 for events that move no money).
    pub fn balance_change(&self) -> i64 {
        match self {
            AccountEvent::MoneyDeposited { amount, .. }
            | AccountEvent::TransferCredited { amount, .. }
            | AccountEvent::TransferRefunded { amount, .. } => amount.minor_units(),
            AccountEvent::MoneyWithdrawn { amount, .. }
            | AccountEvent::TransferDebited { amount, .. }
            | AccountEvent::HoldCaptured { amount, .. }
            | AccountEvent::OverdraftFeeCharged { amount, .. } => -amount.minor_units(),
            AccountEvent::TransactionReversed { signed_amount, .. } => *signed_amount,
            AccountEvent::AccountOpened { .. }
            | AccountEvent::AccountFrozen { .. }
            | AccountEvent::AccountUnfrozen { .. }
            | AccountEvent::AccountClosed { .. }
            | AccountEvent::HolderRenamed { .. }
            | AccountEvent::TransferCompleted { .. }
            | AccountEvent::HoldPlaced { .. }
            | AccountEvent::HoldVoided { .. }
            | AccountEvent::HoldExpired { .. }
            | AccountEvent::AccountOverdrawn { .. } => 0,
        }
    }

    /// The currency of the money the event moves, sets aside or releases (and an opening's):
    /// `None` for events about the account alone.
    pub fn currency(&self) -> Option<Currency> {
        match self {
            AccountEvent::AccountOpened { currency, .. }
            | AccountEvent::MoneyDeposited { currency, .. }
            | AccountEvent::MoneyWithdrawn { currency, .. }
            | AccountEvent::TransferDebited { currency, .. }
            | AccountEvent::TransferCredited { currency, .. }
            | AccountEvent::TransferRefunded { currency, .. }
            | AccountEvent::TransactionReversed { currency, .. }
            | AccountEvent::HoldPlaced { currency, .. }
            | AccountEvent::HoldCaptured { currency, .. }
            | AccountEvent::HoldVoided { currency, .. }
            | AccountEvent::HoldExpired { currency, .. }
            | AccountEvent::AccountOverdrawn { currency, .. }
            | AccountEvent::OverdraftFeeCharged { currency, .. } => Some(*currency),
            AccountEvent::AccountFrozen { .. }
            | AccountEvent::AccountUnfrozen { .. }
            | AccountEvent::AccountClosed { .. }
            | AccountEvent::HolderRenamed { .. }
            | AccountEvent::TransferCompleted { .. } => None,
        }
    }

    /// The hold the event is a step of, if it is one.
    pub fn hold_id(&self) -> Option<HoldId> {
        match self {
            AccountEvent::HoldPlaced { hold_id, .. }
            | AccountEvent::HoldCaptured { hold_id, .. }
            | AccountEvent::HoldVoided { hold_id, .. }
            | AccountEvent::HoldExpired { hold_id, .. } => Some(*hold_id),
            _ => None,
        }
    }

    /// How the event changes the money held (set aside by open holds), in minor units.
    pub fn held_change(&self) -> i64 {
        match self {
            AccountEvent::HoldPlaced { amount, .. } => amount.minor_units(),
            AccountEvent::HoldCaptured { amount, released, .. } => {
                -(amount.minor_units().saturating_add(*released))
            }
            AccountEvent::HoldVoided { released, .. } | AccountEvent::HoldExpired { released, .. } => {
                -*released
            }
            _ => 0,
        }
    }
}
