//! The limits money moves within: the account's currency, the overdraft floor and the daily
//! withdrawal limit. Shared by every rule that moves money, so that each limit is checked the
//! same way wherever money leaves or arrives.

use chrono::{DateTime, Utc};

use super::{Account, AccountError};
use crate::domain::money::{Amount, Currency, MAX_BALANCE_MINOR_UNITS};

/// Money moves only in the account's currency: there is no conversion.
pub(super) fn ensure_currency(account: &Account, requested: Currency) -> Result<(), AccountError> {
    if requested == account.currency {
        Ok(())
    } else {
        Err(AccountError::CurrencyMismatch {
            account: account.currency,
            requested,
        })
    }
}

/// A credit the account asks for (a deposit, an incoming transfer, a reversed withdrawal) may
/// not take the balance above [`MAX_BALANCE_MINOR_UNITS`], so that refunds always fit.
pub(super) fn ensure_room(account: &Account, credit: i64) -> Result<(), AccountError> {
    match account.balance.minor_units.checked_add(credit) {
        Some(after) if after <= MAX_BALANCE_MINOR_UNITS => Ok(()),
        _ => Err(AccountError::Overflow),
    }
}

/// The balance may not fall below `-overdraft_limit`, and money held by open holds may not be
/// spent twice: what leaves comes out of the balance less what is held.
pub(super) fn ensure_funds(account: &Account, amount: Amount) -> Result<(), AccountError> {
    // Compare the balance after the withdrawal with the floor rather than the amount with
    // `balance + overdraft`: the latter overflows for balances near `i64::MAX`.
    let floor = -account.overdraft_limit.minor_units();
    let after = account
        .balance
        .checked_sub(account.held())?
        .checked_sub(amount.minor_units())?;
    if after.minor_units < floor {
        return Err(AccountError::InsufficientFunds {
            available: account.available(),
            requested: amount.minor_units(),
        });
    }
    Ok(())
}

/// Withdrawals within one UTC calendar day may not add up to more than the daily limit.
pub(super) fn ensure_daily_limit(
    account: &Account,
    amount: Amount,
    at: DateTime<Utc>,
) -> Result<(), AccountError> {
    let Some(limit) = account.daily_withdrawal_limit else {
        return Ok(());
    };
    let withdrawn_today = account.withdrawn_on(at.date_naive());
    let total = withdrawn_today
        .checked_add(amount.minor_units())
        .ok_or(AccountError::Overflow)?;
    if total > limit.minor_units() {
        return Err(AccountError::DailyLimitExceeded {
            limit: limit.minor_units(),
            withdrawn_today,
            requested: amount.minor_units(),
        });
    }
    Ok(())
}
