//! Why an account refused a command. Each variant is one business rule.

use chrono::{DateTime, Utc};

use super::HoldStatus;
use crate::domain::ids::{HoldId, TransactionId, TransferId};
use crate::domain::money::{Currency, MoneyError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("the account does not exist")]
    NotOpened,
    #[error("the account is already open")]
    AlreadyOpened,
    #[error("the account is in {account}, the command is in {requested}")]
    CurrencyMismatch { account: Currency, requested: Currency },
    #[error("insufficient funds: {available} minor units available, {requested} requested")]
    InsufficientFunds { available: i64, requested: i64 },
    #[error("the account is frozen")]
    AccountFrozen,
    #[error("the account is closed")]
    AccountClosed,
    #[error("the account is already frozen")]
    AlreadyFrozen,
    #[error("the account is not frozen")]
    NotFrozen,
    #[error("the bank froze the account; only the bank can lift that freeze")]
    FrozenByBank,
    #[error(
        "daily withdrawal limit of {limit} minor units exceeded: {withdrawn_today} already withdrawn today, {requested} requested"
    )]
    DailyLimitExceeded {
        limit: i64,
        withdrawn_today: i64,
        requested: i64,
    },
    #[error("an account can only be closed at a zero balance, the balance is {balance} minor units")]
    NonZeroBalance { balance: i64 },
    #[error("the resulting balance would exceed the maximum an account may hold (10^17 minor units)")]
    Overflow,
    #[error("an account cannot transfer to itself")]
    TransferToSelf,
    #[error("transfer id {0} was already used for a different transfer")]
    TransferIdReused(TransferId),
    #[error("the account has no pending transfer {0}")]
    TransferNotFound(TransferId),
    #[error("the account cannot close while transfers are in flight")]
    TransfersPending,
    #[error("the account has no deposit or withdrawal {0}")]
    TransactionNotFound(TransactionId),
    #[error("transfer legs cannot be reversed; send a transfer back instead")]
    NotReversible,
    #[error("transaction {0} was already reversed")]
    AlreadyReversed(TransactionId),
    #[error("transaction {transaction_id} is older than 30 days: it could be reversed until {deadline}")]
    ReversalWindowClosed {
        transaction_id: TransactionId,
        deadline: DateTime<Utc>,
    },
    #[error("the account has no hold {0}")]
    HoldNotFound(HoldId),
    #[error("hold id {0} was already used for a different hold")]
    HoldIdReused(HoldId),
    #[error("hold {hold_id} is {status}, no longer open")]
    HoldNotOpen { hold_id: HoldId, status: HoldStatus },
    #[error("cannot capture {requested} minor units of a hold of {held}")]
    CaptureExceedsHold { held: i64, requested: i64 },
    #[error("a hold must expire between 1 second and 30 days after it is placed")]
    HoldExpiryOutOfRange,
    #[error("hold {hold_id} expires at {expires_at}, not yet")]
    HoldNotDue {
        hold_id: HoldId,
        expires_at: DateTime<Utc>,
    },
    #[error("the account cannot close while holds are open")]
    HoldsOpen,
    #[error("the account cannot close while an overdraft fee is still to be charged")]
    OverdraftFeesDue,
}

impl From<MoneyError> for AccountError {
    fn from(_: MoneyError) -> Self {
        // The only money errors a decider can meet are arithmetic overflows: every other kind
        // is ruled out by the types the command carries.
        AccountError::Overflow
    }
}
