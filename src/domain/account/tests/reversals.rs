//! Reversals: which movements may be undone, until when, and within which limits.

use chrono::Duration;

use super::fixtures::*;
use super::{balance_of, given};
use crate::domain::account::{
    AccountCommand, AccountError, Movement, MovementKind, REVERSAL_WINDOW, Reverse,
};

#[test]
fn a_deposit_can_be_reversed_until_the_last_minute_of_its_30_day_window() {
    let last_minute = now() + Duration::days(29) + Duration::hours(23) + Duration::minutes(59);

    let mut history = vec![opened(), deposited_as(tx(1), 1_000), deposited_as(tx(2), 500)];
    let reversal = reversed_at(tx(1), -1_000, last_minute);
    let state = given(&history)
        .when(reverse_at(tx(1), last_minute))
        .then(std::slice::from_ref(&reversal));
    history.push(reversal);

    assert_eq!(balance_of(&state), 500);
    // What the log now tells a later reversal about either movement.
    assert_eq!(
        Movement::find(&history, tx(1)).map(|original| original.reversed),
        Some(true)
    );
    assert_eq!(
        Movement::find(&history, reversal_id()),
        Some(Movement {
            kind: MovementKind::Reversal,
            amount: 1_000,
            occurred_at: last_minute,
            reversed: false,
        })
    );
}

#[test]
fn a_deposit_can_be_reversed_at_exactly_30_days() {
    let thirty_days_later = utc(2025, 4, 13, 9, 0, 0);
    assert_eq!(thirty_days_later - now(), REVERSAL_WINDOW);

    given(&[opened(), deposited_as(tx(1), 1_000)])
        .when(reverse_at(tx(1), thirty_days_later))
        .then(&[reversed_at(tx(1), -1_000, thirty_days_later)]);
}

#[test]
fn a_deposit_cannot_be_reversed_one_second_after_its_30_day_window() {
    let one_second_late = utc(2025, 4, 13, 9, 0, 1);

    given(&[opened(), deposited_as(tx(1), 1_000)])
        .when(reverse_at(tx(1), one_second_late))
        .then_error(AccountError::ReversalWindowClosed {
            transaction_id: tx(1),
            deadline: utc(2025, 4, 13, 9, 0, 0),
        });
}

#[test]
fn reversing_a_withdrawal_credits_the_balance() {
    let state = given(&[opened(), deposited_as(tx(1), 1_000), withdrawn_as(tx(2), 300)])
        .when(reverse(tx(2)))
        .then(&[reversed(tx(2), 300)]);

    assert_eq!(balance_of(&state), 1_000);
}

#[test]
fn a_transaction_cannot_be_reversed_twice() {
    given(&[
        opened(),
        deposited_as(tx(1), 1_000),
        withdrawn_as(tx(2), 300),
        reversed(tx(2), 300),
    ])
    .when(AccountCommand::Reverse(Reverse {
        reversal_id: tx(3),
        transaction_id: tx(2),
        original: None,
        occurred_at: now(),
    }))
    .then_error(AccountError::AlreadyReversed(tx(2)));
}

#[test]
fn transfer_legs_cannot_be_reversed() {
    let history = [
        opened(),
        deposited_as(tx(1), 1_000),
        transfer_debited_as(tx(2), 300, now()),
        transfer_refunded_as(tx(3), 300),
        transfer_credited_as(tx(4), 200),
    ];

    for leg in [tx(2), tx(3), tx(4)] {
        given(&history)
            .when(reverse(leg))
            .then_error(AccountError::NotReversible);
    }
}

#[test]
fn a_reversal_cannot_be_reversed() {
    given(&[opened(), deposited_as(tx(1), 1_000), reversed(tx(1), -1_000)])
        .when(AccountCommand::Reverse(Reverse {
            reversal_id: tx(2),
            transaction_id: reversal_id(),
            original: None,
            occurred_at: now(),
        }))
        .then_error(AccountError::NotReversible);
}

#[test]
fn reversing_an_unknown_transaction_is_rejected() {
    given(&[opened(), deposited_as(tx(1), 1_000)])
        .when(reverse(tx(9)))
        .then_error(AccountError::TransactionNotFound(tx(9)));
}

#[test]
fn a_deposit_reversal_may_take_the_balance_down_to_exactly_minus_the_overdraft_limit() {
    let state = given(&[
        opened_with(500, None),
        deposited_as(tx(1), 1_000),
        withdrawn_as(tx(2), 500),
    ])
    .when(reverse(tx(1)))
    .then(&[reversed(tx(1), -1_000)]);

    assert_eq!(balance_of(&state), -500);
}

#[test]
fn a_deposit_reversal_below_minus_the_overdraft_limit_is_rejected() {
    given(&[
        opened_with(100, None),
        deposited_as(tx(1), 1_000),
        withdrawn_as(tx(2), 1_000),
    ])
    .when(reverse(tx(1)))
    .then_error(AccountError::InsufficientFunds {
        available: 100,
        requested: 1_000,
    });
}

#[test]
fn reversing_a_deposit_of_a_frozen_account_is_rejected() {
    given(&[opened(), deposited_as(tx(1), 1_000), frozen()])
        .when(reverse(tx(1)))
        .then_error(AccountError::AccountFrozen);
}

#[test]
fn reversing_a_withdrawal_of_a_frozen_account_is_accepted() {
    let state = given(&[
        opened(),
        deposited_as(tx(1), 1_000),
        withdrawn_as(tx(2), 300),
        frozen(),
    ])
    .when(reverse(tx(2)))
    .then(&[reversed(tx(2), 300)]);

    assert_eq!(balance_of(&state), 1_000);
}

#[test]
fn reversing_anything_on_a_closed_account_is_rejected() {
    let history = [
        opened(),
        deposited_as(tx(1), 1_000),
        withdrawn_as(tx(2), 1_000),
        closed(),
    ];

    for original in [tx(1), tx(2)] {
        given(&history)
            .when(reverse(original))
            .then_error(AccountError::AccountClosed);
    }
}

#[test]
fn a_captured_hold_is_reversed_as_a_withdrawal_is() {
    let history = [
        opened(),
        deposited_as(tx(1), 10_000),
        hold_placed(8_000),
        hold_captured(5_000, 3_000),
    ];
    assert_eq!(
        Movement::find(&history, transaction_id()).map(|capture| (capture.kind, capture.amount)),
        Some((MovementKind::HoldCapture, 5_000))
    );
    let state = given(&history)
        .when(reverse(transaction_id()))
        .then(&[reversed(transaction_id(), 5_000)]);
    assert_eq!(balance_of(&state), 10_000);
}
