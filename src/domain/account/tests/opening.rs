//! Opening an account, and what an account that was never opened refuses.

use super::fixtures::*;
use super::{account_in, balance_of, given};
use crate::domain::account::{AccountError, AccountStatus, OpenAccount};
use crate::domain::money::Money;

#[test]
fn opening_an_account_starts_it_active_at_a_zero_balance() {
    let state = given(&[]).when(open(terms())).then(&[opened()]);

    let account = account_in(&state);
    assert_eq!(account.id, account_id());
    assert_eq!(account.owner_id, owner_id());
    assert_eq!(account.balance, Money::zero(eur()));
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.opened_at, now());
}

#[test]
fn an_opening_deposit_is_recorded_as_a_separate_deposit_event() {
    let terms = OpenAccount {
        initial_deposit: Some((transaction_id(), amount(5_000))),
        ..terms()
    };

    let state = given(&[]).when(open(terms)).then(&[opened(), deposited(5_000)]);

    assert_eq!(balance_of(&state), 5_000);
}

#[test]
fn an_account_is_opened_with_its_overdraft_and_daily_withdrawal_limits() {
    let terms = OpenAccount {
        overdraft_limit: limit(10_000),
        daily_withdrawal_limit: Some(limit(50_000)),
        ..terms()
    };

    let state = given(&[])
        .when(open(terms))
        .then(&[opened_with(10_000, Some(50_000))]);

    let account = account_in(&state);
    assert_eq!(account.overdraft_limit, limit(10_000));
    assert_eq!(account.daily_withdrawal_limit, Some(limit(50_000)));
}

#[test]
fn opening_an_account_twice_is_rejected() {
    given(&[opened()])
        .when(open(terms()))
        .then_error(AccountError::AlreadyOpened);
}

#[test]
fn a_closed_account_cannot_be_opened_again() {
    given(&[opened(), closed()])
        .when(open(terms()))
        .then_error(AccountError::AlreadyOpened);
}

#[test]
fn an_account_that_was_never_opened_refuses_every_command_but_open() {
    for command in every_command_but_open() {
        given(&[]).when(command).then_error(AccountError::NotOpened);
    }
}
