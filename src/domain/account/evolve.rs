//! Folding: how each event changes the account's state.
//!
//! `decide` has already checked every rule, so nothing here refuses anything: this is
//! bookkeeping, and it must accept every event ever recorded.

use super::{
    Account, AccountEvent, AccountState, AccountStatus, Movement, MovementKind, OutgoingTransfer,
    TransferStatus,
};
use crate::domain::money::Money;

/// Applies one event to the state.
///
/// Totality matters more than strictness here: an event that does not fit the state (which
/// `decide` never produces) leaves the state unchanged instead of panicking, and arithmetic
/// saturates because `decide` already refused every command whose sum would overflow.
pub fn evolve(state: AccountState, event: &AccountEvent) -> AccountState {
    match (state, event) {
        (
            AccountState::NotOpened,
            AccountEvent::AccountOpened {
                account_id,
                owner_id,
                currency,
                overdraft_limit,
                daily_withdrawal_limit,
                occurred_at,
            },
        ) => AccountState::Opened(Account {
            id: *account_id,
            owner_id: *owner_id,
            currency: *currency,
            balance: Money::zero(*currency),
            overdraft_limit: *overdraft_limit,
            daily_withdrawal_limit: *daily_withdrawal_limit,
            withdrawals_today: None,
            status: AccountStatus::Active,
            opened_at: *occurred_at,
            updated_at: *occurred_at,
            movements: Default::default(),
            transfers_out: Default::default(),
            transfers_in: Default::default(),
        }),
        (AccountState::Opened(mut account), event) => {
            account.updated_at = event.occurred_at();
            account.balance.minor_units = account.balance.minor_units.saturating_add(event.balance_change());
            match event {
                AccountEvent::AccountOpened { .. } | AccountEvent::TransferCompleted { .. } => {}
                AccountEvent::MoneyDeposited {
                    transaction_id,
                    amount,
                    occurred_at,
                    ..
                } => account.record_movement(*transaction_id, MovementKind::Deposit, *amount, *occurred_at),
                AccountEvent::MoneyWithdrawn {
                    transaction_id,
                    amount,
                    occurred_at,
                    ..
                } => {
                    account.record_movement(*transaction_id, MovementKind::Withdrawal, *amount, *occurred_at);
                    account.record_withdrawal(occurred_at.date_naive(), amount.minor_units());
                }
                AccountEvent::AccountFrozen { reason, .. } => {
                    account.status = AccountStatus::Frozen {
                        reason: reason.clone(),
                    };
                }
                AccountEvent::AccountUnfrozen { .. } => account.status = AccountStatus::Active,
                AccountEvent::AccountClosed { .. } => account.status = AccountStatus::Closed,
                AccountEvent::TransferDebited {
                    transfer_id,
                    transaction_id,
                    to_account,
                    amount,
                    occurred_at,
                    ..
                } => {
                    account.record_movement(
                        *transaction_id,
                        MovementKind::TransferLeg,
                        *amount,
                        *occurred_at,
                    );
                    account.record_withdrawal(occurred_at.date_naive(), amount.minor_units());
                    account.transfers_out.insert(
                        *transfer_id,
                        OutgoingTransfer {
                            to_account: *to_account,
                            amount: amount.minor_units(),
                            status: TransferStatus::Pending,
                        },
                    );
                }
                AccountEvent::TransferCredited {
                    transfer_id,
                    transaction_id,
                    from_account,
                    amount,
                    occurred_at,
                    ..
                } => {
                    account.record_movement(
                        *transaction_id,
                        MovementKind::TransferLeg,
                        *amount,
                        *occurred_at,
                    );
                    account.transfers_in.insert(*transfer_id, *from_account);
                }
                AccountEvent::TransferRefunded {
                    transfer_id,
                    transaction_id,
                    amount,
                    occurred_at,
                    ..
                } => {
                    account.record_movement(
                        *transaction_id,
                        MovementKind::TransferLeg,
                        *amount,
                        *occurred_at,
                    );
                    account.set_transfer_status(*transfer_id, TransferStatus::Refunded);
                }
                AccountEvent::TransactionReversed {
                    reversal_id,
                    transaction_id,
                    signed_amount,
                    occurred_at,
                    ..
                } => {
                    if let Some(original) = account.movements.get_mut(transaction_id) {
                        original.reversed = true;
                    }
                    account.movements.insert(
                        *reversal_id,
                        Movement {
                            kind: MovementKind::Reversal,
                            amount: signed_amount.saturating_abs(),
                            occurred_at: *occurred_at,
                            reversed: false,
                        },
                    );
                }
            }
            if let AccountEvent::TransferCompleted { transfer_id, .. } = event {
                account.set_transfer_status(*transfer_id, TransferStatus::Completed);
            }
            AccountState::Opened(account)
        }
        (state @ AccountState::NotOpened, _) => state,
    }
}
