//! Reversals: undoing a deposit, a withdrawal, a hold's capture or an overdraft fee, once, within
//! [`REVERSAL_WINDOW`].

use super::limits::{ensure_funds, ensure_room};
use super::{Account, AccountError, AccountEvent, AccountStatus, MovementKind, REVERSAL_WINDOW, Reverse};
use crate::domain::money::Amount;

/// Reverses a deposit (a debit, which obeys the overdraft rule) or a withdrawal, a capture or an
/// overdraft fee (a credit), once, within [`REVERSAL_WINDOW`] of the original.
pub(super) fn reverse(account: &Account, command: Reverse) -> Result<Vec<AccountEvent>, AccountError> {
    let Reverse {
        reversal_id,
        transaction_id,
        original,
        occurred_at,
    } = command;
    let original = original.ok_or(AccountError::TransactionNotFound(transaction_id))?;
    let signed_amount = match original.kind {
        MovementKind::Deposit => -original.amount,
        MovementKind::Withdrawal | MovementKind::HoldCapture | MovementKind::OverdraftFee => original.amount,
        MovementKind::TransferLeg | MovementKind::Reversal => return Err(AccountError::NotReversible),
    };
    if original.reversed {
        return Err(AccountError::AlreadyReversed(transaction_id));
    }
    let deadline = original.occurred_at + REVERSAL_WINDOW;
    if occurred_at > deadline {
        return Err(AccountError::ReversalWindowClosed {
            transaction_id,
            deadline,
        });
    }
    match original.kind {
        // Undoing a deposit takes money out: the rules of a withdrawal.
        MovementKind::Deposit => {
            if matches!(account.status, AccountStatus::Frozen { .. }) {
                return Err(AccountError::AccountFrozen);
            }
            ensure_funds(
                account,
                Amount::new(original.amount).map_err(|_| AccountError::Overflow)?,
            )?;
        }
        // Undoing a withdrawal puts it back: it must fit.
        _ => ensure_room(account, signed_amount)?,
    }
    Ok(vec![AccountEvent::TransactionReversed {
        reversal_id,
        transaction_id,
        signed_amount,
        currency: account.currency,
        occurred_at,
    }])
}
