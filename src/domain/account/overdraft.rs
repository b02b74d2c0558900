//! The account's half of the overdraft fee: it records when a movement takes the balance below
//! zero, and charges the fee of such a crossing when asked, once.
//!
//! The other half is a policy outside the aggregate (`crate::policy::overdraft_fees`): it
//! reacts to `AccountOverdrawn` by sending `ChargeOverdraftFee`. No coordinator decides
//! anything; each side reacts to the other's facts (choreography). The account records the
//! crossing only when its terms carry a fee, so nothing reacts where nothing is owed.

use super::{Account, AccountCommand, AccountError, AccountEvent, ChargeOverdraftFee};
use crate::domain::ids::TransactionId;
use crate::domain::money::MAX_BALANCE_MINOR_UNITS;

/// `movement` (the event of a withdrawal, a transfer's debit or a hold's capture, with its id),
/// followed by `AccountOverdrawn` if it takes the balance from zero or more to below zero on an
/// account with an overdraft fee.
pub(super) fn with_crossing(
    account: &Account,
    transaction_id: TransactionId,
    movement: AccountEvent,
) -> Vec<AccountEvent> {
    let before = account.balance.minor_units;
    let after = before.saturating_add(movement.balance_change());
    let occurred_at = movement.occurred_at();
    let mut events = vec![movement];
    if account.overdraft_fee.is_some() && before >= 0 && after < 0 {
        events.push(AccountEvent::AccountOverdrawn {
            transaction_id,
            balance: after,
            currency: account.currency,
            occurred_at,
        });
    }
    events
}

/// Whether `command` charges a fee that is not due: charged already (the policy delivers at
/// least once), or never recorded. Answered with no events, even on a closed account (which
/// closed with no fee due, see `lifecycle::close`).
pub(super) fn is_repeated_fee(account: &Account, command: &AccountCommand) -> bool {
    matches!(
        command,
        AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee { cause, .. })
            if !account.fees_due.contains(cause)
    )
}

/// Charges the fee of the crossing `cause` (due: see [`is_repeated_fee`]). It is the bank's
/// charge, not the owner's: it may take the balance past the overdraft limit, and a frozen
/// account pays it too, but never below `-MAX_BALANCE_MINOR_UNITS` (a fee past that floor is
/// refused as `Overflow`, and the policy waives it).
pub(super) fn charge(
    account: &Account,
    command: ChargeOverdraftFee,
) -> Result<Vec<AccountEvent>, AccountError> {
    let ChargeOverdraftFee {
        cause,
        transaction_id,
        occurred_at,
    } = command;
    // Only an account with a fee records a crossing; without one, nothing is ever due.
    let Some(fee) = account.overdraft_fee else {
        return Ok(Vec::new());
    };
    let after = account.balance.checked_sub(fee.minor_units())?;
    if after.minor_units < -MAX_BALANCE_MINOR_UNITS {
        return Err(AccountError::Overflow);
    }
    Ok(vec![AccountEvent::OverdraftFeeCharged {
        transaction_id,
        cause,
        amount: fee,
        currency: account.currency,
        occurred_at,
    }])
}
