//! Deposits and withdrawals: what they do to the balance, and when the currency or a freeze
//! refuses them.

use uuid::Uuid;

use super::fixtures::*;
use super::{balance_of, given};
use crate::domain::account::{AccountCommand, AccountError, AccountEvent, Deposit};
use crate::domain::ids::TransactionId;
use crate::domain::money::MAX_BALANCE_MINOR_UNITS;

#[test]
fn depositing_adds_to_the_balance() {
    let state = given(&[opened(), deposited(1_000)])
        .when(deposit(250))
        .then(&[deposited(250)]);

    assert_eq!(balance_of(&state), 1_250);
}

#[test]
fn a_deposit_records_its_transaction_id_and_description() {
    let command = AccountCommand::Deposit(Deposit {
        transaction_id: TransactionId(Uuid::from_u128(42)),
        amount: amount(1_250),
        currency: eur(),
        description: Some(text("rent for March")),
        occurred_at: now(),
    });

    given(&[opened()])
        .when(command)
        .then(&[AccountEvent::MoneyDeposited {
            transaction_id: TransactionId(Uuid::from_u128(42)),
            amount: amount(1_250),
            currency: eur(),
            description: Some(text("rent for March")),
            occurred_at: now(),
        }]);
}

#[test]
fn depositing_in_another_currency_is_rejected() {
    given(&[opened()])
        .when(deposit_in(100, usd()))
        .then_error(AccountError::CurrencyMismatch {
            account: eur(),
            requested: usd(),
        });
}

#[test]
fn a_deposit_above_the_maximum_balance_is_rejected() {
    let history = history_with_balance(opened(), MAX_BALANCE_MINOR_UNITS - 1);

    given(&history)
        .when(deposit(2))
        .then_error(AccountError::Overflow);
}

#[test]
fn a_deposit_may_bring_the_balance_to_exactly_the_maximum() {
    let history = history_with_balance(opened(), MAX_BALANCE_MINOR_UNITS - 1);

    let state = given(&history).when(deposit(1)).then(&[deposited(1)]);

    assert_eq!(balance_of(&state), MAX_BALANCE_MINOR_UNITS);
}

#[test]
fn withdrawing_subtracts_from_the_balance() {
    let state = given(&[opened(), deposited(1_000)])
        .when(withdraw(300))
        .then(&[withdrawn(300)]);

    assert_eq!(balance_of(&state), 700);
}

#[test]
fn withdrawing_the_whole_balance_is_accepted() {
    let state = given(&[opened(), deposited(1_000)])
        .when(withdraw(1_000))
        .then(&[withdrawn(1_000)]);

    assert_eq!(balance_of(&state), 0);
}

#[test]
fn withdrawing_in_another_currency_is_rejected() {
    given(&[opened(), deposited(1_000)])
        .when(withdraw_in(100, usd()))
        .then_error(AccountError::CurrencyMismatch {
            account: eur(),
            requested: usd(),
        });
}

#[test]
fn a_frozen_account_still_accepts_deposits() {
    let state = given(&[opened(), frozen()])
        .when(deposit(500))
        .then(&[deposited(500)]);

    assert_eq!(balance_of(&state), 500);
}

#[test]
fn withdrawing_from_a_frozen_account_is_rejected() {
    given(&[opened(), deposited(1_000), frozen()])
        .when(withdraw(100))
        .then_error(AccountError::AccountFrozen);
}
