//! The overdraft floor and the daily withdrawal limit, shown on withdrawals and on refunded
//! transfers (`transfers` shows them on transfers out, `reversals` on reversed deposits).

use super::fixtures::*;
use super::{account_in, balance_of, given};
use crate::domain::account::AccountError;
use crate::domain::money::MAX_AMOUNT_MINOR_UNITS;

#[test]
fn withdrawing_more_than_available_is_rejected() {
    given(&[opened(), deposited(1_000)])
        .when(withdraw(1_001))
        .then_error(AccountError::InsufficientFunds {
            available: 1_000,
            requested: 1_001,
        });
}

#[test]
fn the_overdraft_lets_the_balance_go_down_to_exactly_minus_the_limit() {
    let state = given(&[opened_with(500, None), deposited(1_000)])
        .when(withdraw(1_500))
        .then(&[withdrawn(1_500)]);

    assert_eq!(balance_of(&state), -500);
}

#[test]
fn withdrawing_below_minus_the_overdraft_limit_is_rejected() {
    given(&[opened_with(500, None), deposited(1_000), withdrawn(1_400)])
        .when(withdraw(101))
        .then_error(AccountError::InsufficientFunds {
            available: 100,
            requested: 101,
        });
}

/// The available amount is `balance + overdraft_limit`; computing it must not overflow for a
/// balance that `decide` itself let the account reach.
#[test]
fn a_huge_balance_with_an_overdraft_can_still_be_withdrawn_from() {
    let history = history_with_balance(opened_with(1_000, None), i64::MAX);

    given(&history).when(withdraw(1)).then(&[withdrawn(1)]);
}

#[test]
fn withdrawals_up_to_exactly_the_daily_limit_are_accepted() {
    let state = given(&[opened_with(0, Some(1_000)), deposited(5_000), withdrawn(600)])
        .when(withdraw(400))
        .then(&[withdrawn(400)]);

    assert_eq!(balance_of(&state), 4_000);
}

#[test]
fn a_single_withdrawal_above_the_daily_limit_is_rejected() {
    given(&[opened_with(0, Some(1_000)), deposited(5_000)])
        .when(withdraw(1_001))
        .then_error(AccountError::DailyLimitExceeded {
            limit: 1_000,
            withdrawn_today: 0,
            requested: 1_001,
        });
}

#[test]
fn withdrawals_adding_up_past_the_daily_limit_within_one_utc_day_are_rejected() {
    let first_second = utc(2025, 3, 14, 0, 0, 0);
    let noon = utc(2025, 3, 14, 12, 0, 0);
    let last_second = utc(2025, 3, 14, 23, 59, 59);

    given(&[
        opened_with(0, Some(1_000)),
        deposited(5_000),
        withdrawn_at(300, first_second),
        withdrawn_at(300, noon),
    ])
    .when(withdraw_at(401, last_second))
    .then_error(AccountError::DailyLimitExceeded {
        limit: 1_000,
        withdrawn_today: 600,
        requested: 401,
    });
}

#[test]
fn the_daily_limit_resets_at_midnight_utc() {
    let last_second = utc(2025, 3, 14, 23, 59, 59);
    let next_midnight = utc(2025, 3, 15, 0, 0, 0);

    let state = given(&[
        opened_with(0, Some(1_000)),
        deposited(5_000),
        withdrawn_at(1_000, last_second),
    ])
    .when(withdraw_at(1_000, next_midnight))
    .then(&[withdrawn_at(1_000, next_midnight)]);

    assert_eq!(account_in(&state).withdrawn_on(next_midnight.date_naive()), 1_000);
}

#[test]
fn deposits_do_not_restore_the_daily_withdrawal_limit() {
    given(&[
        opened_with(0, Some(1_000)),
        deposited(5_000),
        withdrawn(1_000),
        deposited(1_000),
    ])
    .when(withdraw(1))
    .then_error(AccountError::DailyLimitExceeded {
        limit: 1_000,
        withdrawn_today: 1_000,
        requested: 1,
    });
}

#[test]
fn a_transfer_refunded_on_the_day_of_its_debit_gives_the_daily_limit_back() {
    let state = given(&[
        opened_with(0, Some(1_000)),
        deposited(5_000),
        transfer_debited_as(tx(1), 1_000, now()),
    ])
    .when(refund_transfer())
    .then(&[transfer_refunded(1_000)]);
    assert_eq!(account_in(&state).withdrawn_on(now().date_naive()), 0);

    given(&[
        opened_with(0, Some(1_000)),
        deposited(5_000),
        transfer_debited_as(tx(1), 1_000, now()),
        transfer_refunded(1_000),
    ])
    .when(withdraw(1_000))
    .then(&[withdrawn(1_000)]);
}

#[test]
fn a_transfer_refunded_on_a_later_day_leaves_that_days_total_unchanged() {
    let debited = utc(2025, 3, 14, 18, 0, 0);
    let next_morning = utc(2025, 3, 15, 8, 0, 0);
    let refunded = utc(2025, 3, 15, 10, 0, 0);
    let history = [
        opened_with(0, Some(1_000)),
        deposited(5_000),
        transfer_debited_as(tx(1), 600, debited),
        withdrawn_at(300, next_morning),
    ];

    let state = given(&history)
        .when(refund_transfer_at(refunded))
        .then(&[transfer_refunded_at(transaction_id(), 600, refunded)]);
    assert_eq!(account_in(&state).withdrawn_on(refunded.date_naive()), 300);

    let later = utc(2025, 3, 15, 12, 0, 0);
    given(
        &[
            history.to_vec(),
            vec![transfer_refunded_at(transaction_id(), 600, refunded)],
        ]
        .concat(),
    )
    .when(withdraw_at(701, later))
    .then_error(AccountError::DailyLimitExceeded {
        limit: 1_000,
        withdrawn_today: 300,
        requested: 701,
    });
}

#[test]
fn without_a_daily_limit_withdrawals_in_one_day_are_unlimited() {
    let history = history_with_balance(opened(), 3 * MAX_AMOUNT_MINOR_UNITS);
    let largest = MAX_AMOUNT_MINOR_UNITS;

    let state = given(&[history, vec![withdrawn(largest), withdrawn(largest)]].concat())
        .when(withdraw(largest))
        .then(&[withdrawn(largest)]);

    assert_eq!(balance_of(&state), 0);
}

#[test]
fn a_transfer_refunded_the_next_day_gives_nothing_back_to_the_day_of_its_debit() {
    // No withdrawal since the debit: the day still tracked is the debit's, and the refund,
    // on another day, must not take the amount off it.
    let debited = utc(2025, 3, 14, 18, 0, 0);
    let refunded = utc(2025, 3, 15, 10, 0, 0);
    let state = given(&[
        opened_with(0, Some(1_000)),
        deposited(5_000),
        transfer_debited_as(tx(1), 600, debited),
    ])
    .when(refund_transfer_at(refunded))
    .then(&[transfer_refunded_at(transaction_id(), 600, refunded)]);
    assert_eq!(account_in(&state).withdrawn_on(debited.date_naive()), 600);
    assert_eq!(account_in(&state).withdrawn_on(refunded.date_naive()), 0);
}
