//! Freezing, unfreezing and closing: the account's status, which the other rules consult.

use super::{
    Account, AccountError, AccountEvent, AccountStatus, Close, Freeze, FrozenBy, RenameHolder, Unfreeze,
};

/// Stops money leaving the account until it is unfrozen; the reason and who froze it are kept
/// with the status. The bank may freeze an account its owner froze: the freeze is then the
/// bank's, and the owner can no longer lift it.
pub(super) fn freeze(account: &Account, command: Freeze) -> Result<Vec<AccountEvent>, AccountError> {
    let Freeze {
        reason,
        by,
        occurred_at,
    } = command;
    match (&account.status, by) {
        (
            AccountStatus::Frozen {
                by: FrozenBy::Owner, ..
            },
            FrozenBy::Bank,
        )
        | (AccountStatus::Active | AccountStatus::Closed, _) => Ok(vec![AccountEvent::AccountFrozen {
            reason,
            by,
            occurred_at,
        }]),
        (AccountStatus::Frozen { .. }, _) => Err(AccountError::AlreadyFrozen),
    }
}

/// Lifts a freeze: the owner its own, the bank any.
pub(super) fn unfreeze(account: &Account, command: Unfreeze) -> Result<Vec<AccountEvent>, AccountError> {
    let Unfreeze {
        by,
        reason,
        occurred_at,
    } = command;
    match (&account.status, by) {
        (
            AccountStatus::Frozen {
                by: FrozenBy::Bank, ..
            },
            FrozenBy::Owner,
        ) => Err(AccountError::FrozenByBank),
        (AccountStatus::Frozen { .. }, _) => Ok(vec![AccountEvent::AccountUnfrozen { reason, occurred_at }]),
        _ => Err(AccountError::NotFrozen),
    }
}

/// Records the holder's name anew, on any account not closed (frozen ones too: a name is no
/// money).
pub(super) fn rename_holder(command: RenameHolder) -> Result<Vec<AccountEvent>, AccountError> {
    let RenameHolder {
        holder_name,
        occurred_at,
    } = command;
    Ok(vec![AccountEvent::HolderRenamed {
        holder_name,
        occurred_at,
    }])
}

/// Closes an account that holds nothing and owes nothing: not frozen, at a zero balance, with
/// no transfer in flight, no hold open and no overdraft fee still to be charged.
pub(super) fn close(account: &Account, command: Close) -> Result<Vec<AccountEvent>, AccountError> {
    let Close { occurred_at } = command;
    // Frozen funds are held for a reason (fraud, a court order): closing would release
    // control over them, so a frozen account must be unfrozen first.
    if matches!(account.status, AccountStatus::Frozen { .. }) {
        return Err(AccountError::AccountFrozen);
    }
    if account.balance.minor_units != 0 {
        return Err(AccountError::NonZeroBalance {
            balance: account.balance.minor_units,
        });
    }
    if account.has_pending_transfers() {
        return Err(AccountError::TransfersPending);
    }
    if account.has_open_holds() {
        return Err(AccountError::HoldsOpen);
    }
    // A fee recorded as due is charged a moment later by its policy: closing first would let
    // a customer escape it by timing, so the account waits for it (a retry succeeds once it is
    // charged, and the balance is zero again).
    if !account.fees_due.is_empty() {
        return Err(AccountError::OverdraftFeesDue);
    }
    Ok(vec![AccountEvent::AccountClosed { occurred_at }])
}
