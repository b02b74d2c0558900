//! Folding: how each event changes the account's state.
//!
//! `decide` has already checked every rule, so nothing here refuses anything: this is
//! bookkeeping, and it must accept every event ever recorded.

use super::{
    Account, AccountEvent, AccountState, AccountStatus, Hold, HoldStatus, OutgoingTransfer, TransferStatus,
};
use crate::domain::money::Money;

/// Folds one event into the state: `state = fold(evolve, initial, events)`.
///
/// The course page calls this step `apply(state, event)`; foldbank uses the decider pattern's
/// name, `evolve`, and keeps "apply" for nothing else in the domain.
///
/// Totality matters more than strictness here: an event that does not fit the state (which
/// `decide` never produces) leaves the state unchanged instead of panicking, and arithmetic
/// saturates because `decide` already refused every command whose sum would overflow.
pub fn evolve(state: AccountState, event: &AccountEvent) -> AccountState {
    match (state, event) {
        (AccountState::NotOpened, opening @ AccountEvent::AccountOpened { .. }) => {
            opened(opening).map_or(AccountState::NotOpened, AccountState::Opened)
        }
        (AccountState::Opened(mut account), event) => {
            book(&mut account, event);
            AccountState::Opened(account)
        }
        (state @ AccountState::NotOpened, _) => state,
    }
}

/// The account an opening event opens (`None` for any other event).
fn opened(event: &AccountEvent) -> Option<Account> {
    let AccountEvent::AccountOpened {
        account_id,
        owner_id,
        currency,
        overdraft_limit,
        daily_withdrawal_limit,
        holder_name,
        overdraft_fee,
        occurred_at,
    } = event
    else {
        return None;
    };
    Some(Account {
        id: *account_id,
        owner_id: *owner_id,
        currency: *currency,
        balance: Money::zero(*currency),
        overdraft_limit: *overdraft_limit,
        daily_withdrawal_limit: *daily_withdrawal_limit,
        overdraft_fee: *overdraft_fee,
        fees_due: Default::default(),
        withdrawals_today: None,
        status: AccountStatus::Active,
        holder_name: holder_name.clone(),
        opened_at: *occurred_at,
        updated_at: *occurred_at,
        transfers_out: Default::default(),
        transfers_in: Default::default(),
        holds: Default::default(),
    })
}

/// One event's bookkeeping on an open account.
fn book(account: &mut Account, event: &AccountEvent) {
    account.updated_at = event.occurred_at();
    account.balance.minor_units = account.balance.minor_units.saturating_add(event.balance_change());
    match event {
        // Their only effect is on the balance, applied above.
        AccountEvent::AccountOpened { .. }
        | AccountEvent::MoneyDeposited { .. }
        | AccountEvent::TransactionReversed { .. } => {}
        AccountEvent::AccountOverdrawn { transaction_id, .. } => {
            account.fees_due.insert(*transaction_id);
        }
        AccountEvent::OverdraftFeeCharged { cause, .. } => {
            account.fees_due.remove(cause);
        }
        AccountEvent::HolderRenamed { holder_name, .. } => account.holder_name = Some(holder_name.clone()),
        AccountEvent::MoneyWithdrawn {
            amount, occurred_at, ..
        } => account.record_withdrawal(occurred_at.date_naive(), amount.minor_units()),
        AccountEvent::AccountFrozen { reason, by, .. } => {
            account.status = AccountStatus::Frozen {
                reason: reason.clone(),
                by: *by,
            };
        }
        AccountEvent::AccountUnfrozen { .. } => account.status = AccountStatus::Active,
        AccountEvent::AccountClosed { .. } => account.status = AccountStatus::Closed,
        AccountEvent::TransferDebited {
            transfer_id,
            to_account,
            amount,
            occurred_at,
            ..
        } => {
            account.record_withdrawal(occurred_at.date_naive(), amount.minor_units());
            account.transfers_out.insert(
                *transfer_id,
                OutgoingTransfer {
                    to_account: *to_account,
                    amount: amount.minor_units(),
                    status: TransferStatus::Pending,
                    debited_on: occurred_at.date_naive(),
                },
            );
        }
        AccountEvent::TransferCredited {
            transfer_id,
            from_account,
            ..
        } => {
            account.transfers_in.insert(*transfer_id, *from_account);
        }
        AccountEvent::TransferCompleted { transfer_id, .. } => {
            account.set_transfer_status(*transfer_id, TransferStatus::Completed);
        }
        AccountEvent::TransferRefunded {
            transfer_id,
            occurred_at,
            ..
        } => {
            let pending = account.transfers_out.get(transfer_id).copied();
            if let Some(sent) = pending.filter(|sent| sent.status == TransferStatus::Pending) {
                account.restore_withdrawal(sent.debited_on, occurred_at.date_naive(), sent.amount);
            }
            account.set_transfer_status(*transfer_id, TransferStatus::Refunded);
        }
        AccountEvent::HoldPlaced {
            hold_id,
            amount,
            expires_at,
            occurred_at,
            ..
        } => {
            account.record_withdrawal(occurred_at.date_naive(), amount.minor_units());
            account.holds.insert(
                *hold_id,
                Hold {
                    amount: amount.minor_units(),
                    status: HoldStatus::Open,
                    expires_at: *expires_at,
                    placed_on: occurred_at.date_naive(),
                },
            );
        }
        AccountEvent::HoldCaptured {
            hold_id,
            released,
            occurred_at,
            ..
        } => account.settle_hold(
            *hold_id,
            HoldStatus::Captured,
            *released,
            occurred_at.date_naive(),
        ),
        AccountEvent::HoldVoided {
            hold_id,
            released,
            occurred_at,
            ..
        } => account.settle_hold(*hold_id, HoldStatus::Voided, *released, occurred_at.date_naive()),
        AccountEvent::HoldExpired {
            hold_id,
            released,
            occurred_at,
            ..
        } => account.settle_hold(*hold_id, HoldStatus::Expired, *released, occurred_at.date_naive()),
    }
}
