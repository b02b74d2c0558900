//! Freezing, unfreezing and closing, and what a closed account refuses.

use super::fixtures::*;
use super::{account_in, given};
use crate::domain::account::{AccountError, AccountEvent, AccountStatus, FrozenBy};

#[test]
fn freezing_an_account_records_the_reason() {
    let state = given(&[opened()]).when(freeze()).then(&[frozen()]);

    assert_eq!(
        account_in(&state).status,
        AccountStatus::Frozen {
            reason: text("suspected fraud"),
            by: FrozenBy::Bank,
        }
    );
}

#[test]
fn an_owner_lifts_its_own_freeze_but_not_the_banks() {
    given(&[opened(), frozen_by(FrozenBy::Owner)])
        .when(unfreeze_by(FrozenBy::Owner))
        .then(&[unfrozen()]);
    given(&[opened(), frozen_by(FrozenBy::Bank)])
        .when(unfreeze_by(FrozenBy::Owner))
        .then_error(AccountError::FrozenByBank);
    given(&[opened(), frozen_by(FrozenBy::Owner)])
        .when(unfreeze_by(FrozenBy::Bank))
        .then(&[unfrozen()]);
}

#[test]
fn the_bank_may_take_over_an_owners_freeze_and_the_owner_then_cannot_lift_it() {
    let state = given(&[opened(), frozen_by(FrozenBy::Owner)])
        .when(freeze_by(FrozenBy::Bank))
        .then(&[frozen_by(FrozenBy::Bank)]);
    assert!(matches!(
        account_in(&state).status,
        AccountStatus::Frozen {
            by: FrozenBy::Bank,
            ..
        }
    ));
    given(&[opened(), frozen_by(FrozenBy::Owner), frozen_by(FrozenBy::Bank)])
        .when(unfreeze_by(FrozenBy::Owner))
        .then_error(AccountError::FrozenByBank);
    given(&[opened(), frozen_by(FrozenBy::Bank)])
        .when(freeze_by(FrozenBy::Owner))
        .then_error(AccountError::AlreadyFrozen);
    given(&[opened(), frozen_by(FrozenBy::Owner)])
        .when(freeze_by(FrozenBy::Owner))
        .then_error(AccountError::AlreadyFrozen);
}

#[test]
fn freezing_a_frozen_account_is_rejected() {
    given(&[opened(), frozen()])
        .when(freeze())
        .then_error(AccountError::AlreadyFrozen);
}

#[test]
fn unfreezing_a_frozen_account_makes_it_active_again() {
    let state = given(&[opened(), deposited(1_000), frozen()])
        .when(unfreeze())
        .then(&[unfrozen()]);

    assert_eq!(account_in(&state).status, AccountStatus::Active);
    given(&[opened(), deposited(1_000), frozen(), unfrozen()])
        .when(withdraw(100))
        .then(&[withdrawn(100)]);
}

#[test]
fn unfreezing_an_active_account_is_rejected() {
    given(&[opened()])
        .when(unfreeze())
        .then_error(AccountError::NotFrozen);
}

#[test]
fn closing_an_account_at_a_zero_balance_is_accepted() {
    let state = given(&[opened(), deposited(1_000), withdrawn(1_000)])
        .when(close())
        .then(&[closed()]);

    assert_eq!(account_in(&state).status, AccountStatus::Closed);
}

#[test]
fn closing_an_account_with_money_on_it_is_rejected() {
    given(&[opened(), deposited(1_000)])
        .when(close())
        .then_error(AccountError::NonZeroBalance { balance: 1_000 });
}

#[test]
fn closing_an_overdrawn_account_is_rejected() {
    given(&[opened_with(500, None), withdrawn(200)])
        .when(close())
        .then_error(AccountError::NonZeroBalance { balance: -200 });
}

#[test]
fn closing_a_frozen_account_is_rejected_even_at_a_zero_balance() {
    given(&[opened(), frozen()])
        .when(close())
        .then_error(AccountError::AccountFrozen);
}

#[test]
fn a_closed_account_refuses_every_command() {
    for command in every_command_but_open() {
        given(&[opened(), closed()])
            .when(command)
            .then_error(AccountError::AccountClosed);
    }
}

#[test]
fn closing_with_a_pending_transfer_is_rejected_even_at_a_zero_balance() {
    given(&[opened(), deposited(1_000), transfer_debited(1_000)])
        .when(close())
        .then_error(AccountError::TransfersPending);
}

#[test]
fn closing_after_the_transfer_was_completed_is_accepted() {
    let state = given(&[
        opened(),
        deposited(1_000),
        transfer_debited(1_000),
        transfer_completed(),
    ])
    .when(close())
    .then(&[closed()]);

    assert_eq!(account_in(&state).status, AccountStatus::Closed);
}

#[test]
fn closing_after_the_transfer_was_refunded_needs_a_zero_balance() {
    let refunded = [
        opened(),
        deposited(1_000),
        transfer_debited(1_000),
        transfer_refunded(1_000),
    ];

    given(&refunded)
        .when(close())
        .then_error(AccountError::NonZeroBalance { balance: 1_000 });
    given(&[refunded.to_vec(), vec![withdrawn(1_000)]].concat())
        .when(close())
        .then(&[closed()]);
}

#[test]
fn statuses_and_refund_reasons_have_stable_names() {
    use crate::domain::account::RefundReason;
    assert_eq!(AccountStatus::Active.as_str(), "active");
    assert_eq!(
        AccountStatus::Frozen {
            reason: text("x"),
            by: FrozenBy::Owner
        }
        .as_str(),
        "frozen"
    );
    assert_eq!(AccountStatus::Closed.as_str(), "closed");
    assert_eq!(
        RefundReason::DestinationNotFound.as_str(),
        "destination-not-found"
    );
    assert_eq!(RefundReason::CurrencyMismatch.to_string(), "currency-mismatch");
    assert_eq!(FrozenBy::Bank.to_string(), "bank");
}

#[test]
fn a_holder_is_renamed_on_an_active_or_frozen_account_never_a_closed_one() {
    let rename = || rename_holder("pd1:a sealed name");
    let state = given(&[opened()])
        .when(rename())
        .then(&[holder_renamed("pd1:a sealed name")]);
    assert_eq!(account_in(&state).holder_name, Some(text("pd1:a sealed name")));
    given(&[opened(), frozen()])
        .when(rename())
        .then(&[holder_renamed("pd1:a sealed name")]);
    given(&[opened(), closed()])
        .when(rename())
        .then_error(AccountError::AccountClosed);
}

#[test]
fn an_account_opened_with_a_holders_name_keeps_it_until_renamed() {
    let named = AccountEvent::AccountOpened {
        account_id: account_id(),
        owner_id: owner_id(),
        currency: eur(),
        overdraft_limit: limit(0),
        daily_withdrawal_limit: None,
        holder_name: Some(text("pd1:first")),
        overdraft_fee: None,
        occurred_at: now(),
    };
    let state = given(std::slice::from_ref(&named))
        .when(close())
        .then(&[closed()]);
    assert_eq!(account_in(&state).holder_name, Some(text("pd1:first")));
    let state = given(&[named, holder_renamed("pd1:second")])
        .when(close())
        .then(&[closed()]);
    assert_eq!(account_in(&state).holder_name, Some(text("pd1:second")));
}
