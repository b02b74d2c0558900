//! The bank account aggregate as a decider.
//!
//! [`decide`] enforces the account's invariants; [`evolve`] folds its events into
//! [`AccountState`]. Read the invariants in [`decide`] from top to bottom: they are the business
//! rules of the service.

mod command;
mod error;
mod event;
mod state;

#[cfg(test)]
mod tests;

pub use command::{AccountCommand, OpenAccount};
pub use error::AccountError;
pub use event::AccountEvent;
pub use state::{
    Account, AccountState, AccountStatus, DailyWithdrawals, Movement, MovementKind, OutgoingTransfer,
    TransferStatus,
};

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::Decider;
use crate::domain::money::{Amount, Currency, Money};

/// How long after a deposit or withdrawal it may still be reversed.
pub const REVERSAL_WINDOW: TimeDelta = TimeDelta::days(30);

/// The `stream_type` of account streams in the event log.
pub const STREAM_TYPE: &str = "account";

/// Marker type that plugs the account functions into the generic [`Decider`] machinery.
#[derive(Debug, Clone, Copy)]
pub struct AccountDecider;

impl Decider for AccountDecider {
    type State = AccountState;
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;

    fn initial_state() -> AccountState {
        AccountState::NotOpened
    }

    fn decide(state: &AccountState, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
        decide(state, command)
    }

    fn evolve(state: AccountState, event: &AccountEvent) -> AccountState {
        evolve(state, event)
    }
}

/// Decides what a command does to an account, or why it is refused.
pub fn decide(state: &AccountState, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
    let (account, command) = match (state, command) {
        (AccountState::NotOpened, AccountCommand::Open(terms)) => return Ok(open(terms)),
        (AccountState::Opened(_), AccountCommand::Open(_)) => return Err(AccountError::AlreadyOpened),
        (AccountState::NotOpened, _) => return Err(AccountError::NotOpened),
        (AccountState::Opened(account), command) => (account, command),
    };

    // A repeat of a transfer step that already happened is answered before any other rule:
    // the process manager delivers at least once, and a repeat must stay a no-op even if the
    // account has closed since. Mistaking it for a refusal would refund money already credited.
    if is_repeated_transfer_step(account, &command) {
        return Ok(Vec::new());
    }
    if account.status == AccountStatus::Closed {
        return Err(AccountError::AccountClosed);
    }

    match command {
        AccountCommand::Open(_) => Err(AccountError::AlreadyOpened),
        AccountCommand::Deposit {
            transaction_id,
            amount,
            currency,
            description,
            occurred_at,
        } => {
            ensure_currency(account, currency)?;
            account.balance.checked_add(amount.minor_units())?;
            Ok(vec![AccountEvent::MoneyDeposited {
                transaction_id,
                amount,
                currency,
                description,
                occurred_at,
            }])
        }
        AccountCommand::Withdraw {
            transaction_id,
            amount,
            currency,
            description,
            occurred_at,
        } => {
            if matches!(account.status, AccountStatus::Frozen { .. }) {
                return Err(AccountError::AccountFrozen);
            }
            ensure_currency(account, currency)?;
            ensure_funds(account, amount)?;
            ensure_daily_limit(account, amount, occurred_at)?;
            Ok(vec![AccountEvent::MoneyWithdrawn {
                transaction_id,
                amount,
                currency,
                description,
                occurred_at,
            }])
        }
        AccountCommand::Freeze { reason, occurred_at } => match account.status {
            AccountStatus::Frozen { .. } => Err(AccountError::AlreadyFrozen),
            _ => Ok(vec![AccountEvent::AccountFrozen { reason, occurred_at }]),
        },
        AccountCommand::Unfreeze { occurred_at } => match account.status {
            AccountStatus::Frozen { .. } => Ok(vec![AccountEvent::AccountUnfrozen { occurred_at }]),
            _ => Err(AccountError::NotFrozen),
        },
        AccountCommand::Close { occurred_at } => {
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
            Ok(vec![AccountEvent::AccountClosed { occurred_at }])
        }
        AccountCommand::DebitTransfer {
            transfer_id,
            transaction_id,
            to_account,
            amount,
            currency,
            description,
            occurred_at,
        } => {
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
            Ok(vec![AccountEvent::TransferDebited {
                transfer_id,
                transaction_id,
                to_account,
                amount,
                currency,
                description,
                occurred_at,
            }])
        }
        AccountCommand::CreditTransfer {
            transfer_id,
            transaction_id,
            from_account,
            amount,
            currency,
            description,
            occurred_at,
        } => {
            if account.transfers_in.contains_key(&transfer_id) {
                // Same id, another source (a repeat was answered before the rules).
                return Err(AccountError::TransferIdReused(transfer_id));
            }
            // A frozen account still receives money: freezing stops money leaving.
            ensure_currency(account, currency)?;
            account.balance.checked_add(amount.minor_units())?;
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
        AccountCommand::CompleteTransfer {
            transfer_id,
            occurred_at,
        } => match account.transfers_out.get(&transfer_id).map(|sent| sent.status) {
            Some(TransferStatus::Pending) => Ok(vec![AccountEvent::TransferCompleted {
                transfer_id,
                occurred_at,
            }]),
            Some(TransferStatus::Completed | TransferStatus::Refunded) | None => {
                Err(AccountError::TransferNotFound(transfer_id))
            }
        },
        AccountCommand::RefundTransfer {
            transfer_id,
            transaction_id,
            reason,
            occurred_at,
        } => match account.transfers_out.get(&transfer_id) {
            Some(sent) if sent.status == TransferStatus::Pending => {
                account.balance.checked_add(sent.amount)?;
                Ok(vec![AccountEvent::TransferRefunded {
                    transfer_id,
                    transaction_id,
                    to_account: sent.to_account,
                    amount: Amount::new(sent.amount).map_err(|_| AccountError::Overflow)?,
                    currency: account.currency,
                    reason,
                    occurred_at,
                }])
            }
            _ => Err(AccountError::TransferNotFound(transfer_id)),
        },
        AccountCommand::Reverse {
            reversal_id,
            transaction_id,
            occurred_at,
        } => reverse(account, reversal_id, transaction_id, occurred_at),
    }
}

/// Whether `command` is a transfer step this account has already taken.
fn is_repeated_transfer_step(account: &Account, command: &AccountCommand) -> bool {
    let status = |transfer_id| account.transfers_out.get(transfer_id).map(|sent| sent.status);
    match command {
        AccountCommand::CreditTransfer {
            transfer_id,
            from_account,
            ..
        } => account.transfers_in.get(transfer_id) == Some(from_account),
        AccountCommand::DebitTransfer {
            transfer_id,
            to_account,
            amount,
            ..
        } => account
            .transfers_out
            .get(transfer_id)
            .is_some_and(|sent| sent.to_account == *to_account && sent.amount == amount.minor_units()),
        AccountCommand::CompleteTransfer { transfer_id, .. } => {
            status(transfer_id) == Some(TransferStatus::Completed)
        }
        AccountCommand::RefundTransfer { transfer_id, .. } => {
            status(transfer_id) == Some(TransferStatus::Refunded)
        }
        _ => false,
    }
}

/// Reverses a deposit (a debit, which obeys the overdraft rule) or a withdrawal (a credit),
/// once, within [`REVERSAL_WINDOW`] of the original.
fn reverse(
    account: &Account,
    reversal_id: crate::domain::ids::TransactionId,
    transaction_id: crate::domain::ids::TransactionId,
    occurred_at: DateTime<Utc>,
) -> Result<Vec<AccountEvent>, AccountError> {
    let original = account
        .movements
        .get(&transaction_id)
        .ok_or(AccountError::TransactionNotFound(transaction_id))?;
    let signed_amount = match original.kind {
        MovementKind::Deposit => -original.amount,
        MovementKind::Withdrawal => original.amount,
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
    if signed_amount < 0 {
        if matches!(account.status, AccountStatus::Frozen { .. }) {
            return Err(AccountError::AccountFrozen);
        }
        ensure_funds(
            account,
            Amount::new(-signed_amount).map_err(|_| AccountError::Overflow)?,
        )?;
    } else {
        account.balance.checked_add(signed_amount)?;
    }
    Ok(vec![AccountEvent::TransactionReversed {
        reversal_id,
        transaction_id,
        signed_amount,
        currency: account.currency,
        occurred_at,
    }])
}

/// The events of opening: `AccountOpened`, then the opening deposit if there is one.
fn open(terms: OpenAccount) -> Vec<AccountEvent> {
    let OpenAccount {
        account_id,
        owner_id,
        currency,
        overdraft_limit,
        daily_withdrawal_limit,
        initial_deposit,
        occurred_at,
    } = terms;
    let mut events = vec![AccountEvent::AccountOpened {
        account_id,
        owner_id,
        currency,
        overdraft_limit,
        daily_withdrawal_limit,
        occurred_at,
    }];
    if let Some((transaction_id, amount)) = initial_deposit {
        events.push(AccountEvent::MoneyDeposited {
            transaction_id,
            amount,
            currency,
            description: None,
            occurred_at,
        });
    }
    events
}

fn ensure_currency(account: &Account, requested: Currency) -> Result<(), AccountError> {
    if requested == account.currency {
        Ok(())
    } else {
        Err(AccountError::CurrencyMismatch {
            account: account.currency,
            requested,
        })
    }
}

/// The balance may not fall below `-overdraft_limit`.
fn ensure_funds(account: &Account, amount: Amount) -> Result<(), AccountError> {
    // Compare the balance after the withdrawal with the floor rather than the amount with
    // `balance + overdraft`: the latter overflows for balances near `i64::MAX`.
    let floor = -account.overdraft_limit.minor_units();
    let after = account.balance.checked_sub(amount.minor_units())?;
    if after.minor_units < floor {
        return Err(AccountError::InsufficientFunds {
            available: account.available(),
            requested: amount.minor_units(),
        });
    }
    Ok(())
}

/// Withdrawals within one UTC calendar day may not add up to more than the daily limit.
fn ensure_daily_limit(account: &Account, amount: Amount, at: DateTime<Utc>) -> Result<(), AccountError> {
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

/// The version of [`AccountState`]'s serialized shape. Bump it whenever the state's fields
/// change: stored snapshots of another version are ignored (and replaced), never migrated,
/// because the events can always rebuild the state.
pub const STATE_SCHEMA_VERSION: i32 = 2;
