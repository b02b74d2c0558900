//! The bank account aggregate as a decider.
//!
//! [`decide`] enforces the account's invariants; [`evolve`](fn@evolve) folds its events into
//! [`AccountState`]. Read [`decide`] from top to bottom: it names, in the order they are
//! checked, the rules every command meets and the rule that handles each command. The rules
//! live beside it by family:
//!
//! - `opening`: the events of opening an account;
//! - `movements`: deposits and withdrawals;
//! - `lifecycle`: freezing, unfreezing, closing, and the holder's name;
//! - `transfers`: the account's side of a transfer, and how it recognises a repeated step;
//! - `reversals`: undoing a deposit or a withdrawal;
//! - `holds`: money authorized now and captured, voided or expired later;
//! - `limits`: the currency, overdraft and daily limits that money moves within;
//! - `overdraft`: recording a crossing below zero, and charging its fee once;
//! - `evolve`: how each event changes the state.

mod command;
mod error;
mod event;
mod evolve;
mod holds;
mod lifecycle;
mod limits;
mod movements;
mod opening;
mod overdraft;
mod refund_reason;
mod reversals;
mod state;
mod transfers;

#[cfg(test)]
mod tests;

pub use command::{
    AccountCommand, CaptureHold, ChargeOverdraftFee, Close, CompleteTransfer, CreditTransfer, DebitTransfer,
    Deposit, ExpireHold, Freeze, OpenAccount, PlaceHold, RefundTransfer, RenameHolder, Reverse, Unfreeze,
    VoidHold, Withdraw,
};
pub use error::AccountError;
pub use event::{AccountEvent, AccountEventType};
pub use evolve::evolve;
pub use holds::{MAX_HOLD, MIN_HOLD};
pub use refund_reason::RefundReason;
pub use state::{
    Account, AccountState, AccountStatus, DailyWithdrawals, FrozenBy, Hold, HoldStatus, Movement,
    MovementKind, OutgoingTransfer, TransferStatus,
};

use chrono::TimeDelta;

use crate::domain::Decider;

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
///
/// Each rule takes the struct of the one command it handles, so no command can reach the wrong rule.
pub fn decide(state: &AccountState, command: AccountCommand) -> Result<Vec<AccountEvent>, AccountError> {
    let (account, command) = match (state, command) {
        (AccountState::NotOpened, AccountCommand::Open(terms)) => return Ok(opening::open(terms)),
        (AccountState::Opened(_), AccountCommand::Open(_)) => return Err(AccountError::AlreadyOpened),
        (AccountState::NotOpened, _) => return Err(AccountError::NotOpened),
        (AccountState::Opened(account), command) => (account, command),
    };

    // A repeat of a transfer step that already happened is answered before any other rule:
    // the process manager delivers at least once, and a repeat must stay a no-op even if the
    // account has closed since. Mistaking it for a refusal would refund money already credited.
    // So is a hold placed again, or an expiry of a hold already over (the expiry scheduler
    // delivers at least once too, and the account may have closed once its holds were over).
    // So is a charge of an overdraft fee that is not due (charged already: its policy delivers
    // at least once as well).
    if transfers::is_repeated_transfer_step(account, &command)
        || holds::is_repeated_hold_step(account, &command)
        || overdraft::is_repeated_fee(account, &command)
    {
        return Ok(Vec::new());
    }
    if account.status == AccountStatus::Closed {
        return Err(AccountError::AccountClosed);
    }

    match command {
        AccountCommand::Open(_) => Err(AccountError::AlreadyOpened),
        AccountCommand::Deposit(deposit) => movements::deposit(account, deposit),
        AccountCommand::Withdraw(withdraw) => movements::withdraw(account, withdraw),
        AccountCommand::Freeze(freeze) => lifecycle::freeze(account, freeze),
        AccountCommand::Unfreeze(unfreeze) => lifecycle::unfreeze(account, unfreeze),
        AccountCommand::Close(close) => lifecycle::close(account, close),
        AccountCommand::RenameHolder(rename) => lifecycle::rename_holder(rename),
        AccountCommand::DebitTransfer(debit) => transfers::debit(account, debit),
        AccountCommand::CreditTransfer(credit) => transfers::credit(account, credit),
        AccountCommand::CompleteTransfer(complete) => transfers::complete(account, complete),
        AccountCommand::RefundTransfer(refund) => transfers::refund(account, refund),
        AccountCommand::Reverse(reverse) => reversals::reverse(account, reverse),
        AccountCommand::PlaceHold(place) => holds::place(account, place),
        AccountCommand::CaptureHold(capture) => holds::capture(account, capture),
        AccountCommand::VoidHold(void) => holds::void(account, void),
        AccountCommand::ExpireHold(expire) => holds::expire(account, expire),
        AccountCommand::ChargeOverdraftFee(charge) => overdraft::charge(account, charge),
    }
}

/// The version of [`AccountState`]'s serialized shape. Bump it whenever the state's fields
/// change, and whenever [`evolve`](fn@evolve) changes what it computes (a bug fix too): stored
/// snapshots of another version are ignored (and replaced), never migrated, because the events
/// can always rebuild the state. (`foldbank snapshots clear` is the other way to drop them.)
pub const STATE_SCHEMA_VERSION: i32 = 8;
