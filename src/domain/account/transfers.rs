//! The account's side of a transfer: the debit on the source, the credit on the destination,
//! and the settlement (completion or refund) back on the source.
//!
//! The transfer process manager delivers every step at least once, so each step recognises its
//! own repeat ([`is_repeated_transfer_step`]) and answers it with no events.

use super::limits::{ensure_currency, ensure_daily_limit, ensure_funds, ensure_room};
use super::overdraft::with_crossing;
use super::{
    Account, AccountCommand, AccountError, AccountEvent, AccountStatus, CompleteTransfer, CreditTransfer,
    DebitTransfer, RefundTransfer, TransferStatus,
};
use crate::domain::money::Amount;

/// Whether `command` is a transfer step this account has already taken.
pub(super) fn is_repeated_transfer_step(account: &Account, command: &AccountCommand) -> bool {
    let status = |transfer_id| account.transfers_out.get(transfer_id).map(|sent| sent.status);
    match command {
        AccountCommand::CreditTransfer(CreditTransfer {
            transfer_id,
            from_account,
            ..
        }) => account.transfers_in.get(transfer_id) == Some(from_account),
        AccountCommand::DebitTransfer(DebitTransfer {
            transfer_id,
            to_account,
            amount,
            ..
        }) => account
            .transfers_out
            .get(transfer_id)
            .is_some_and(|sent| sent.to_account == *to_account && sent.amount == amount.minor_units()),
        AccountCommand::CompleteTransfer(CompleteTransfer { transfer_id, .. }) => {
            status(transfer_id) == Some(TransferStatus::Completed)
        }
        AccountCommand::RefundTransfer(RefundTransfer { transfer_id, .. }) => {
            status(transfer_id) == Some(TransferStatus::Refunded)
        }
        _ => false,
    }
}

/// Step 1, on the source: the money leaves under the same rules as a withdrawal, and the
/// transfer stays pending until it is settled.
pub(super) fn debit(account: &Account, command: DebitTransfer) -> Result<Vec<AccountEvent>, AccountError> {
    let DebitTransfer {
        transfer_id,
        transaction_id,
        to_account,
        amount,
        currency,
        description,
        occurred_at,
    } = command;
    // The same request again was answered by `is_repeated_transfer_step`; the same id
    // with other terms is another transfer under a used name.
    if account.transfers_out.contains_key(&transfer_id) {
        return Err(AccountError::TransferIdReused(transfer_id));
    }
    if to_account == account.id {
        return Err(AccountError::TransferToSelf);
    }
    if matches!(account.status, AccountStatus::Frozen { .. }) {
        return Err(AccountError::AccountFrozen);
    }
    ensure_currency(account, currency)?;
    ensure_funds(account, amount)?;
    // Money leaving at the owner's request counts toward the daily limit, whether it
    // leaves as cash or as a transfer: otherwise the limit is one transfer away from
    // meaning nothing.
    ensure_daily_limit(account, amount, occurred_at)?;
    let debited = AccountEvent::TransferDebited {
        transfer_id,
        transaction_id,
        to_account,
        amount,
        currency,
        description,
        occurred_at,
    };
    Ok(with_crossing(account, transaction_id, debited))
}

/// Step 2, on the destination: the money arrives, once per transfer id.
pub(super) fn credit(account: &Account, command: CreditTransfer) -> Result<Vec<AccountEvent>, AccountError> {
    let CreditTransfer {
        transfer_id,
        transaction_id,
        from_account,
        amount,
        currency,
        description,
        occurred_at,
    } = command;
    if account.transfers_in.contains_key(&transfer_id) {
        // Same id, another source (a repeat was answered before the rules).
        return Err(AccountError::TransferIdReused(transfer_id));
    }
    // A frozen account still receives money: freezing stops money leaving.
    ensure_currency(account, currency)?;
    ensure_room(account, amount.minor_units())?;
    Ok(vec![AccountEvent::TransferCredited {
        transfer_id,
        transaction_id,
        from_account,
        amount,
        currency,
        description,
        occurred_at,
    }])
}

/// Step 3 on success, on the source: a pending transfer is settled.
pub(super) fn complete(
    account: &Account,
    command: CompleteTransfer,
) -> Result<Vec<AccountEvent>, AccountError> {
    let CompleteTransfer {
        transfer_id,
        occurred_at,
    } = command;
    match account.transfers_out.get(&transfer_id).map(|sent| sent.status) {
        Some(TransferStatus::Pending) => Ok(vec![AccountEvent::TransferCompleted {
            transfer_id,
            occurred_at,
        }]),
        Some(TransferStatus::Completed | TransferStatus::Refunded) | None => {
            Err(AccountError::TransferNotFound(transfer_id))
        }
    }
}

/// Step 3 on failure, on the source: the money of a pending transfer comes back. A frozen
/// account takes it back too, since freezing stops money leaving, not arriving.
pub(super) fn refund(account: &Account, command: RefundTransfer) -> Result<Vec<AccountEvent>, AccountError> {
    let RefundTransfer {
        transfer_id,
        transaction_id,
        reason,
        occurred_at,
    } = command;
    match account.transfers_out.get(&transfer_id) {
        // Compensation is never refused: the money left this account, so it fits back in
        // (see `MAX_BALANCE_MINOR_UNITS`). Refusing it would strand the money in flight.
        Some(sent) if sent.status == TransferStatus::Pending => Ok(vec![AccountEvent::TransferRefunded {
            transfer_id,
            transaction_id,
            to_account: sent.to_account,
            amount: Amount::new(sent.amount).map_err(|_| AccountError::Overflow)?,
            currency: account.currency,
            reason,
            occurred_at,
        }]),
        _ => Err(AccountError::TransferNotFound(transfer_id)),
    }
}
