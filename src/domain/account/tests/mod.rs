//! The account's business rules as executable examples, one file per family of rules as in the
//! decider, and the properties that must hold whatever clients send.
//!
//! Each example reads given (the events recorded so far) / when (a command) / then (the events the
//! command causes, or the typed error that refuses it), with the helpers below; `fixtures` holds
//! the values, commands and events the examples are written in. `properties` drives random command
//! sequences, made by `scenarios`, through `decide` and `evolve`, and checks them against `model`,
//! a plain restatement of the rules.

mod events;
mod fixtures;
mod holds;
mod lifecycle;
mod limits;
mod model;
mod movements;
mod opening;
mod overdraft_fees;
mod properties;
mod reversals;
mod scenarios;
mod transfers;

use crate::domain::Decider;
use crate::domain::account::{
    Account, AccountCommand, AccountDecider, AccountError, AccountEvent, AccountState, Movement, Reverse,
};

/// The history of an account, folded into its state.
struct Given {
    history: Vec<AccountEvent>,
    state: AccountState,
}

fn given(history: &[AccountEvent]) -> Given {
    Given {
        history: history.to_vec(),
        state: AccountDecider::fold(history),
    }
}

/// What the command handler does before `decide`: a reversal is handed the movement it names,
/// as the account's events tell it (unless the example states it).
fn as_the_handler_would(history: &[AccountEvent], command: AccountCommand) -> AccountCommand {
    match command {
        AccountCommand::Reverse(reverse) if reverse.original.is_none() => AccountCommand::Reverse(Reverse {
            original: Movement::find(history, reverse.transaction_id),
            ..reverse
        }),
        command => command,
    }
}

impl Given {
    fn when(self, command: AccountCommand) -> When {
        let command = as_the_handler_would(&self.history, command);
        let outcome = AccountDecider::decide(&self.state, command.clone());
        When {
            state: self.state,
            command,
            outcome,
        }
    }
}

/// A command decided against a history, waiting for its expected outcome.
struct When {
    state: AccountState,
    command: AccountCommand,
    outcome: Result<Vec<AccountEvent>, AccountError>,
}

impl When {
    /// Asserts the command was accepted with exactly `expected` and returns the state after them.
    #[track_caller]
    fn then(self, expected: &[AccountEvent]) -> AccountState {
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "events caused by {:?}", self.command);
                events.iter().fold(self.state, AccountDecider::evolve)
            }
            Err(error) => panic!(
                "expected {:?} to be accepted, it was refused with {error:?}",
                self.command
            ),
        }
    }

    /// Asserts the command was refused with exactly `expected`.
    #[track_caller]
    fn then_error(self, expected: AccountError) {
        assert_eq!(self.outcome, Err(expected), "outcome of {:?}", self.command);
    }
}

#[track_caller]
fn account_in(state: &AccountState) -> &Account {
    match state {
        AccountState::Opened(account) => account,
        AccountState::NotOpened => panic!("expected an opened account, found none"),
    }
}

#[track_caller]
fn balance_of(state: &AccountState) -> i64 {
    account_in(state).balance.minor_units
}
