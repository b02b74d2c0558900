//! The account's half of the overdraft fee: a crossing below zero is recorded only where a fee
//! is owed, and each crossing's fee is charged once, whoever asks and however often.

use super::fixtures::*;
use super::{balance_of, given};
use crate::domain::account::{AccountCommand, AccountError, AccountEvent, ChargeOverdraftFee, FrozenBy};
use crate::domain::ids::TransactionId;
use crate::domain::money::{MAX_AMOUNT_MINOR_UNITS, MAX_BALANCE_MINOR_UNITS};

fn overdrawn(balance: i64) -> AccountEvent {
    AccountEvent::AccountOverdrawn {
        transaction_id: transaction_id(),
        balance,
        currency: eur(),
        occurred_at: now(),
    }
}

fn charge(cause: TransactionId) -> AccountCommand {
    AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee {
        cause,
        transaction_id: tx(99),
        occurred_at: now(),
    })
}

fn fee_charged(minor_units: i64) -> AccountEvent {
    AccountEvent::OverdraftFeeCharged {
        transaction_id: tx(99),
        cause: transaction_id(),
        amount: amount(minor_units),
        currency: eur(),
        occurred_at: now(),
    }
}

#[test]
fn a_withdrawal_that_takes_the_balance_below_zero_records_the_crossing() {
    given(&[opened_with_fee(10_000, 500), deposited(1_000)])
        .when(withdraw(3_000))
        .then(&[withdrawn(3_000), overdrawn(-2_000)]);
}

#[test]
fn a_withdrawal_to_exactly_zero_is_no_crossing() {
    given(&[opened_with_fee(10_000, 500), deposited(1_000)])
        .when(withdraw(1_000))
        .then(&[withdrawn(1_000)]);
}

#[test]
fn a_withdrawal_from_a_balance_already_below_zero_is_no_new_crossing() {
    given(&[opened_with_fee(10_000, 500), withdrawn(100), overdrawn(-100)])
        .when(withdraw(200))
        .then(&[withdrawn(200)]);
}

#[test]
fn an_account_without_a_fee_records_no_crossing() {
    given(&[opened_with(10_000, None), deposited(1_000)])
        .when(withdraw(3_000))
        .then(&[withdrawn(3_000)]);
}

#[test]
fn a_transfer_debit_that_crosses_zero_records_the_crossing() {
    given(&[opened_with_fee(10_000, 500)])
        .when(debit_transfer(700))
        .then(&[transfer_debited(700), overdrawn(-700)]);
}

#[test]
fn the_fee_of_a_crossing_is_charged_once() {
    let history = [opened_with_fee(10_000, 500), withdrawn(3_000), overdrawn(-3_000)];
    let charged = given(&history)
        .when(charge(transaction_id()))
        .then(&[fee_charged(500)]);
    assert_eq!(balance_of(&charged), -3_500);

    let mut after = history.to_vec();
    after.push(fee_charged(500));
    // The policy delivers at least once: the same charge again decides nothing.
    given(&after).when(charge(transaction_id())).then(&[]);
}

#[test]
fn a_fee_may_take_the_balance_past_the_overdraft_limit() {
    let charged = given(&[opened_with_fee(1_000, 500), withdrawn(1_000), overdrawn(-1_000)])
        .when(charge(transaction_id()))
        .then(&[fee_charged(500)]);
    assert_eq!(balance_of(&charged), -1_500);
}

#[test]
fn a_frozen_account_pays_its_fee() {
    given(&[
        opened_with_fee(10_000, 500),
        withdrawn(100),
        overdrawn(-100),
        frozen_by(FrozenBy::Bank),
    ])
    .when(charge(transaction_id()))
    .then(&[fee_charged(500)]);
}

#[test]
fn a_charge_without_a_crossing_decides_nothing() {
    given(&[opened_with_fee(10_000, 500)])
        .when(charge(tx(7)))
        .then(&[]);
    given(&[opened_with(10_000, None), withdrawn(100)])
        .when(charge(transaction_id()))
        .then(&[]);
}

#[test]
fn a_fee_charged_before_the_account_closed_is_still_answered_as_charged() {
    let history = [
        opened_with_fee(10_000, 500),
        withdrawn(100),
        overdrawn(-100),
        fee_charged(500),
        deposited(600),
        closed(),
    ];
    given(&history).when(charge(transaction_id())).then(&[]);
}

#[test]
fn an_account_does_not_close_while_a_fee_is_still_to_be_charged() {
    // Back at zero before the policy charged: closing now would escape the fee by timing.
    let history = [
        opened_with_fee(10_000, 500),
        withdrawn(100),
        overdrawn(-100),
        deposited(100),
    ];
    given(&history)
        .when(close())
        .then_error(AccountError::OverdraftFeesDue);
}

#[test]
fn a_fee_never_takes_the_balance_below_the_floor_of_every_balance() {
    // 100 withdrawals of the largest amount: -10^17, the floor; the fee would pass it.
    let mut history = vec![opened_with_fee(MAX_AMOUNT_MINOR_UNITS, MAX_AMOUNT_MINOR_UNITS)];
    history.extend((0..100).map(|_| withdrawn(MAX_AMOUNT_MINOR_UNITS)));
    history.push(overdrawn(-MAX_BALANCE_MINOR_UNITS));
    given(&history)
        .when(charge(transaction_id()))
        .then_error(AccountError::Overflow);
}

#[test]
fn a_fee_is_a_movement_the_bank_may_reverse() {
    let history = [
        opened_with_fee(10_000, 500),
        withdrawn(100),
        overdrawn(-100),
        fee_charged(500),
    ];
    let waived = given(&history)
        .when(reverse(tx(99)))
        .then(&[reversed(tx(99), 500)]);
    assert_eq!(balance_of(&waived), -100);
}
