//! Cash in and out at the owner's request: deposits and withdrawals.

use super::limits::{ensure_currency, ensure_daily_limit, ensure_funds, ensure_room};
use super::overdraft::with_crossing;
use super::{Account, AccountError, AccountEvent, AccountStatus, Deposit, Withdraw};

/// Money paid in, as long as the balance can hold it. A frozen account still accepts deposits:
/// freezing stops money leaving.
pub(super) fn deposit(account: &Account, command: Deposit) -> Result<Vec<AccountEvent>, AccountError> {
    let Deposit {
        transaction_id,
        amount,
        currency,
        description,
        occurred_at,
    } = command;
    ensure_currency(account, currency)?;
    ensure_room(account, amount.minor_units())?;
    Ok(vec![AccountEvent::MoneyDeposited {
        transaction_id,
        amount,
        currency,
        description,
        occurred_at,
    }])
}

/// Money paid out, within the overdraft floor and the daily limit, never from a frozen account;
/// recorded as overdrawing the account when it takes the balance below zero (see `overdraft`).
pub(super) fn withdraw(account: &Account, command: Withdraw) -> Result<Vec<AccountEvent>, AccountError> {
    let Withdraw {
        transaction_id,
        amount,
        currency,
        description,
        occurred_at,
    } = command;
    if matches!(account.status, AccountStatus::Frozen { .. }) {
        return Err(AccountError::AccountFrozen);
    }
    ensure_currency(account, currency)?;
    ensure_funds(account, amount)?;
    ensure_daily_limit(account, amount, occurred_at)?;
    let withdrawn = AccountEvent::MoneyWithdrawn {
        transaction_id,
        amount,
        currency,
        description,
        occurred_at,
    };
    Ok(with_crossing(account, transaction_id, withdrawn))
}
