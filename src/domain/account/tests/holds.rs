//! Holds: placing one sets money aside, a capture pays all or part of it out, a void or an
//! expiry releases it; each ends the hold once.

use chrono::Duration;

use super::fixtures::*;
use super::{account_in, balance_of, given};
use crate::domain::account::AccountCommand;
use crate::domain::account::{
    AccountError, AccountEvent, AccountState, HoldStatus, MAX_HOLD, MIN_HOLD, PlaceHold,
};

#[track_caller]
fn held(state: &AccountState) -> (i64, i64) {
    let account = account_in(state);
    (account.held(), account.available())
}

#[track_caller]
fn status(state: &AccountState) -> Option<HoldStatus> {
    account_in(state).holds.get(&hold_id()).map(|hold| hold.status)
}

fn place_expiring_in(lasts: Duration) -> AccountCommand {
    AccountCommand::PlaceHold(PlaceHold {
        expires_at: now() + lasts,
        ..match place_hold(100) {
            AccountCommand::PlaceHold(place) => place,
            _ => unreachable!("place_hold places a hold"),
        }
    })
}

#[test]
fn a_hold_sets_money_aside_that_a_withdrawal_cannot_take() {
    let state = given(&[opened(), deposited(10_000)])
        .when(place_hold(8_000))
        .then(&[hold_placed(8_000)]);
    assert_eq!(balance_of(&state), 10_000);
    assert_eq!(held(&state), (8_000, 2_000));

    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(withdraw(3_000))
        .then_error(AccountError::InsufficientFunds {
            available: 2_000,
            requested: 3_000,
        });
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(debit_transfer(2_001))
        .then_error(AccountError::InsufficientFunds {
            available: 2_000,
            requested: 2_001,
        });
}

#[test]
fn a_hold_takes_only_what_is_available() {
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(AccountCommand::PlaceHold(PlaceHold {
            hold_id: crate::domain::ids::HoldId(uuid::Uuid::from_u128(0x5EC0)),
            ..match place_hold(2_001) {
                AccountCommand::PlaceHold(place) => place,
                _ => unreachable!("place_hold places a hold"),
            }
        }))
        .then_error(AccountError::InsufficientFunds {
            available: 2_000,
            requested: 2_001,
        });
}

#[test]
fn capturing_part_of_a_hold_pays_it_out_and_releases_the_rest() {
    let state = given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(capture_hold(Some(5_000)))
        .then(&[hold_captured(5_000, 3_000)]);
    assert_eq!(balance_of(&state), 5_000);
    assert_eq!(held(&state), (0, 5_000));
    assert_eq!(status(&state), Some(HoldStatus::Captured));
}

#[test]
fn capturing_without_an_amount_pays_out_the_whole_hold() {
    let state = given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(capture_hold(None))
        .then(&[hold_captured(8_000, 0)]);
    assert_eq!(balance_of(&state), 2_000);
    assert_eq!(held(&state), (0, 2_000));
}

#[test]
fn capturing_more_than_the_hold_is_refused() {
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(capture_hold(Some(8_001)))
        .then_error(AccountError::CaptureExceedsHold {
            held: 8_000,
            requested: 8_001,
        });
}

#[test]
fn a_hold_that_is_over_cannot_be_captured_or_voided_again() {
    for (ending, status) in [
        (hold_captured(8_000, 0), HoldStatus::Captured),
        (hold_voided(8_000), HoldStatus::Voided),
        (hold_expired(8_000), HoldStatus::Expired),
    ] {
        let history = [opened(), deposited(10_000), hold_placed(8_000), ending];
        for command in [capture_hold(None), void_hold()] {
            given(&history)
                .when(command)
                .then_error(AccountError::HoldNotOpen {
                    hold_id: hold_id(),
                    status,
                });
        }
    }
}

#[test]
fn voiding_a_hold_releases_all_of_it() {
    let state = given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(void_hold())
        .then(&[hold_voided(8_000)]);
    assert_eq!(balance_of(&state), 10_000);
    assert_eq!(held(&state), (0, 10_000));
}

#[test]
fn a_hold_expires_at_its_deadline_and_not_before() {
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(expire_hold(hold_deadline() - Duration::milliseconds(1)))
        .then_error(AccountError::HoldNotDue {
            hold_id: hold_id(),
            expires_at: hold_deadline(),
        });
    let state = given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(expire_hold(hold_deadline()))
        .then(&[hold_expired(8_000)]);
    assert_eq!(held(&state), (0, 10_000));
    assert_eq!(status(&state), Some(HoldStatus::Expired));
}

#[test]
fn an_expiry_delivered_again_or_after_a_settlement_records_nothing() {
    for ending in [hold_captured(8_000, 0), hold_voided(8_000), hold_expired(8_000)] {
        given(&[opened(), deposited(10_000), hold_placed(8_000), ending])
            .when(expire_hold(hold_deadline()))
            .then(&[]);
    }
}

#[test]
fn a_hold_past_its_deadline_is_expired_to_a_capture_even_before_the_expiry_is_recorded() {
    let late = match capture_hold(None) {
        AccountCommand::CaptureHold(capture) => {
            AccountCommand::CaptureHold(crate::domain::account::CaptureHold {
                occurred_at: hold_deadline(),
                ..capture
            })
        }
        _ => unreachable!("capture_hold captures"),
    };
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(late)
        .then_error(AccountError::HoldNotOpen {
            hold_id: hold_id(),
            status: HoldStatus::Expired,
        });
}

#[test]
fn a_hold_lasts_between_one_second_and_thirty_days() {
    for lasts in [
        MIN_HOLD - Duration::milliseconds(1),
        MAX_HOLD + Duration::milliseconds(1),
    ] {
        given(&[opened(), deposited(10_000)])
            .when(place_expiring_in(lasts))
            .then_error(AccountError::HoldExpiryOutOfRange);
    }
    for lasts in [MIN_HOLD, MAX_HOLD] {
        let state = given(&[opened(), deposited(10_000)])
            .when(place_expiring_in(lasts))
            .then(&[AccountEvent::HoldPlaced {
                hold_id: hold_id(),
                amount: amount(100),
                currency: eur(),
                description: Some(text("hotel")),
                expires_at: now() + lasts,
                occurred_at: now(),
            }]);
        assert_eq!(held(&state).0, 100);
    }
}

#[test]
fn a_frozen_account_refuses_new_holds_but_pays_out_and_releases_the_ones_it_has() {
    given(&[opened(), deposited(10_000), frozen()])
        .when(place_hold(100))
        .then_error(AccountError::AccountFrozen);
    given(&[opened(), deposited(10_000), hold_placed(8_000), frozen()])
        .when(capture_hold(None))
        .then(&[hold_captured(8_000, 0)]);
    given(&[opened(), deposited(10_000), hold_placed(8_000), frozen()])
        .when(void_hold())
        .then(&[hold_voided(8_000)]);
}

#[test]
fn an_account_with_open_holds_cannot_close() {
    given(&[opened_with(10_000, None), hold_placed(8_000)])
        .when(close())
        .then_error(AccountError::HoldsOpen);
    given(&[opened_with(10_000, None), hold_placed(8_000), hold_voided(8_000)])
        .when(close())
        .then(&[closed()]);
}

#[test]
fn the_same_hold_placed_again_is_a_repeat_and_its_id_with_other_terms_is_refused() {
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(place_hold(8_000))
        .then(&[]);
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(place_hold(7_000))
        .then_error(AccountError::HoldIdReused(hold_id()));
}

#[test]
fn an_unknown_hold_is_not_found() {
    for command in [capture_hold(None), void_hold(), expire_hold(hold_deadline())] {
        given(&[opened(), deposited(10_000)])
            .when(command)
            .then_error(AccountError::HoldNotFound(hold_id()));
    }
}

#[test]
fn the_daily_limit_counts_a_hold_when_placed_and_gives_back_what_is_released_that_day() {
    let limited = opened_with(0, Some(10_000));
    given(&[limited.clone(), deposited(50_000), hold_placed(8_000)])
        .when(withdraw(2_001))
        .then_error(AccountError::DailyLimitExceeded {
            limit: 10_000,
            withdrawn_today: 8_000,
            requested: 2_001,
        });
    let state = given(&[limited.clone(), deposited(50_000), hold_placed(8_000)])
        .when(capture_hold(Some(5_000)))
        .then(&[hold_captured(5_000, 3_000)]);
    assert_eq!(account_in(&state).withdrawn_on(now().date_naive()), 5_000);
    let state = given(&[limited, deposited(50_000), hold_placed(8_000)])
        .when(void_hold())
        .then(&[hold_voided(8_000)]);
    assert_eq!(account_in(&state).withdrawn_on(now().date_naive()), 0);
}

#[test]
fn an_expiry_or_a_placement_repeated_after_the_account_closed_records_nothing() {
    // The account closed once its hold was over; the scheduler's expiry (or a client's retry of
    // the placement) arrives afterwards: a repeat, not a refusal to retry for ever.
    let history = [
        opened_with(10_000, None),
        hold_placed(8_000),
        hold_voided(8_000),
        closed(),
    ];
    given(&history).when(expire_hold(hold_deadline())).then(&[]);
    given(&history).when(place_hold(8_000)).then(&[]);
    given(&history)
        .when(place_hold(7_000))
        .then_error(AccountError::AccountClosed);
}

#[test]
fn the_same_hold_id_in_another_currency_is_not_a_repeat() {
    let in_usd = match place_hold(8_000) {
        AccountCommand::PlaceHold(place) => AccountCommand::PlaceHold(PlaceHold {
            currency: usd(),
            ..place
        }),
        _ => unreachable!("place_hold places a hold"),
    };
    given(&[opened(), deposited(10_000), hold_placed(8_000)])
        .when(in_usd)
        .then_error(AccountError::HoldIdReused(hold_id()));
}
