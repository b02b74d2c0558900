//! What a client asks an account to do. Imperative names; time and ids are inputs.

use chrono::{DateTime, Utc};

use crate::domain::ids::{AccountId, OwnerId, TransactionId};
use crate::domain::money::{Amount, Currency, Limit};
use crate::domain::text::Text;

/// The terms of a new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAccount {
    pub account_id: AccountId,
    pub owner_id: OwnerId,
    pub currency: Currency,
    pub overdraft_limit: Limit,
    pub daily_withdrawal_limit: Option<Limit>,
    /// An opening deposit, recorded as a separate `MoneyDeposited` event.
    pub initial_deposit: Option<(TransactionId, Amount)>,
    pub occurred_at: DateTime<Utc>,
}

/// A request to change an account. Every value is already valid (see [`crate::domain::money`]),
/// and `occurred_at` plus any new ids were chosen by the caller, which keeps `decide` pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCommand {
    Open(OpenAccount),
    Deposit {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    Withdraw {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    Freeze {
        reason: Text,
        occurred_at: DateTime<Utc>,
    },
    Unfreeze {
        occurred_at: DateTime<Utc>,
    },
    Close {
        occurred_at: DateTime<Utc>,
    },
}

impl AccountCommand {
    /// A stable name, recorded in event metadata.
    pub fn name(&self) -> &'static str {
        match self {
            AccountCommand::Open(_) => "OpenAccount",
            AccountCommand::Deposit { .. } => "Deposit",
            AccountCommand::Withdraw { .. } => "Withdraw",
            AccountCommand::Freeze { .. } => "Freeze",
            AccountCommand::Unfreeze { .. } => "Unfreeze",
            AccountCommand::Close { .. } => "Close",
        }
    }
}
