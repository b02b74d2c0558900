//! What happened to an account. Past-tense facts, never changed once recorded.
//!
//! The serde representation is the stored payload: `{"type": "MoneyDeposited", "data": {...}}`.
//! Renaming a variant or a field breaks every stored event, so changes go through a new schema
//! version and an upcaster (see `crate::store::codec`), never through an edit here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AccountId, OwnerId, TransactionId};
use crate::domain::money::{Amount, Currency, Limit};
use crate::domain::text::Text;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum AccountEvent {
    AccountOpened {
        account_id: AccountId,
        owner_id: OwnerId,
        currency: Currency,
        overdraft_limit: Limit,
        daily_withdrawal_limit: Option<Limit>,
        occurred_at: DateTime<Utc>,
    },
    MoneyDeposited {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    MoneyWithdrawn {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    AccountFrozen {
        reason: Text,
        occurred_at: DateTime<Utc>,
    },
    AccountUnfrozen {
        occurred_at: DateTime<Utc>,
    },
    AccountClosed {
        occurred_at: DateTime<Utc>,
    },
}

impl AccountEvent {
    /// The stored `event_type`, equal to the serde tag.
    pub fn event_type(&self) -> &'static str {
        match self {
            AccountEvent::AccountOpened { .. } => "AccountOpened",
            AccountEvent::MoneyDeposited { .. } => "MoneyDeposited",
            AccountEvent::MoneyWithdrawn { .. } => "MoneyWithdrawn",
            AccountEvent::AccountFrozen { .. } => "AccountFrozen",
            AccountEvent::AccountUnfrozen { .. } => "AccountUnfrozen",
            AccountEvent::AccountClosed { .. } => "AccountClosed",
        }
    }

    /// The business time of the fact, chosen by the command that caused it.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            AccountEvent::AccountOpened { occurred_at, .. }
            | AccountEvent::MoneyDeposited { occurred_at, .. }
            | AccountEvent::MoneyWithdrawn { occurred_at, .. }
            | AccountEvent::AccountFrozen { occurred_at, .. }
            | AccountEvent::AccountUnfrozen { occurred_at }
            | AccountEvent::AccountClosed { occurred_at } => *occurred_at,
        }
    }
}
