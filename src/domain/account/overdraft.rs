//! The account's half of the overdraft fee: it records when a movement takes the balance below
//! zero, and charges the fee of such a crossing when asked, once.
//!
//! The other half is a policy outside the aggregate ([`crate::policy::overdraft_fees`]): it
//! reacts to `AccountOverdrawn` by sending `ChargeOverdraftFee`. No coordinator decides
//! anything; each side reacts to the other's facts (choreography). The account records the
//! crossing only when its terms carry a fee, so nothing reacts where nothing is owed.

use chrono::{DateTime, Utc};

use super::{Account, AccountCommand, AccountError, AccountEvent, ChargeOverdraftFee, FeeStatus};
use crate::domain::ids::TransactionId;

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
    let occurred_at: DateTime<Utc> = movement.occurred_at();
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

/// Whether `command` asks for a fee already charged: the policy delivers at least once.
pub(super) fn is_repeated_fee(account: &Account, command: &AccountCommand) -> bool {
    matches!(
        command,
        AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee { cause, .. })
            if account.overdraft_fees.get(cause) == Some(&FeeStatus::Charged)
    )
}

/// Charges the fee of the crossing `cause`, if one is due. It is the bank's charge, not the
/// owner's: it may take the balance past the overdraft limit, and a frozen account pays it too.
/// With no fee due (no such crossing, or an account without a fee) it decides nothing.
pub(super) fn charge(
    account: &Account,
    command: ChargeOverdraftFee,
) -> Result<Vec<AccountEvent>, AccountError> {
    let ChargeOverdraftFee {
        cause,
        transaction_id,
        occurred_at,
    } = command;
    let (Some(fee), Some(FeeStatus::Due)) = (account.overdraft_fee, account.overdraft_fees.get(&cause))
    else {
        return Ok(Vec::new());
    };
    account.balance.checked_sub(fee.minor_units())?;
    Ok(vec![AccountEvent::OverdraftFeeCharged {
        transaction_id,
        cause,
        amount: fee,
        currency: account.currency,
        occurred_at,
    }])
}
