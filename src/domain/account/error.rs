//! Why an account refused a command. Each variant is one business rule.

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
    #[error("the resulting balance would overflow")]
    Overflow,
}

impl From<MoneyError> for AccountError {
    fn from(_: MoneyError) -> Self {
        // The only money errors a decider can meet are arithmetic overflows: every other kind
        // is ruled out by the types the command carries.
        AccountError::Overflow
    }
}
