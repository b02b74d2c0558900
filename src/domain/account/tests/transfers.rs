//! The account's side of a transfer: the debit, the credit, the completion and the refund, and
//! how each recognises its own repeat.

use chrono::Duration;
use uuid::Uuid;

use super::fixtures::*;
use super::{account_in, balance_of, given};
use crate::domain::account::{
    AccountCommand, AccountError, AccountEvent, AccountState, CreditTransfer, DebitTransfer,
    OutgoingTransfer, TransferStatus,
};
use crate::domain::ids::AccountId;
use crate::domain::money::MAX_BALANCE_MINOR_UNITS;

#[track_caller]
fn outgoing_transfer(state: &AccountState) -> Option<OutgoingTransfer> {
    account_in(state)
        .transfers_out
        .get(&outgoing_transfer_id())
        .copied()
}

#[test]
fn a_transfer_id_credited_from_one_source_is_refused_from_another() {
    let from_elsewhere = match credit_transfer(300) {
        AccountCommand::CreditTransfer(CreditTransfer {
            transfer_id,
            transaction_id,
            amount,
            currency,
            description,
            occurred_at,
            ..
        }) => AccountCommand::CreditTransfer(CreditTransfer {
            transfer_id,
            transaction_id,
            from_account: AccountId(Uuid::from_u128(0xE15E)),
            amount,
            currency,
            description,
            occurred_at,
        }),
        other => other,
    };

    given(&[opened(), transfer_credited(300)])
        .when(from_elsewhere)
        .then_error(AccountError::TransferIdReused(incoming_transfer_id()));
}

#[test]
fn a_repeated_transfer_debit_is_recognised_even_after_the_source_closed() {
    given(&[
        opened(),
        deposited(300),
        transfer_debited(300),
        AccountEvent::TransferCompleted {
            transfer_id: outgoing_transfer_id(),
            occurred_at: now(),
        },
        closed(),
    ])
    .when(debit_transfer(300))
    .then(&[]);
}

#[test]
fn a_transfer_out_debits_the_balance_and_stays_pending_until_settled() {
    let state = given(&[opened(), deposited(1_000)])
        .when(debit_transfer(300))
        .then(&[transfer_debited(300)]);

    assert_eq!(balance_of(&state), 700);
    assert_eq!(
        outgoing_transfer(&state),
        Some(OutgoingTransfer {
            to_account: other_account(),
            amount: 300,
            status: TransferStatus::Pending,
            debited_on: now().date_naive(),
        })
    );
    assert!(account_in(&state).has_pending_transfers());
}

#[test]
fn a_transfer_out_repeated_with_the_same_destination_and_amount_emits_nothing() {
    let retry = AccountCommand::DebitTransfer(DebitTransfer {
        transfer_id: outgoing_transfer_id(),
        transaction_id: tx(1),
        to_account: other_account(),
        amount: amount(300),
        currency: eur(),
        description: Some(text("a client retry")),
        occurred_at: now() + Duration::minutes(1),
    });

    let state = given(&[opened(), deposited(1_000), transfer_debited(300)])
        .when(retry)
        .then(&[]);

    assert_eq!(balance_of(&state), 700);
}

#[test]
fn a_transfer_id_reused_for_another_destination_or_amount_is_rejected() {
    let third_account = AccountId(Uuid::from_u128(0xD2));
    for reuse in [
        debit_transfer_with(third_account, 300, eur(), now()),
        debit_transfer_with(other_account(), 301, eur(), now()),
    ] {
        given(&[opened(), deposited(1_000), transfer_debited(300)])
            .when(reuse)
            .then_error(AccountError::TransferIdReused(outgoing_transfer_id()));
    }
}

#[test]
fn a_transfer_to_the_account_itself_is_rejected() {
    given(&[opened(), deposited(1_000)])
        .when(debit_transfer_with(account_id(), 300, eur(), now()))
        .then_error(AccountError::TransferToSelf);
}

#[test]
fn transferring_out_of_a_frozen_account_is_rejected() {
    given(&[opened(), deposited(1_000), frozen()])
        .when(debit_transfer(300))
        .then_error(AccountError::AccountFrozen);
}

#[test]
fn transferring_out_of_a_closed_account_is_rejected() {
    given(&[opened(), closed()])
        .when(debit_transfer(300))
        .then_error(AccountError::AccountClosed);
}

#[test]
fn transferring_out_in_another_currency_is_rejected() {
    given(&[opened(), deposited(1_000)])
        .when(debit_transfer_with(other_account(), 300, usd(), now()))
        .then_error(AccountError::CurrencyMismatch {
            account: eur(),
            requested: usd(),
        });
}

#[test]
fn a_transfer_out_may_use_the_overdraft_down_to_exactly_minus_the_limit() {
    let state = given(&[opened_with(500, None), deposited(1_000)])
        .when(debit_transfer(1_500))
        .then(&[transfer_debited(1_500)]);

    assert_eq!(balance_of(&state), -500);
}

#[test]
fn a_transfer_out_below_minus_the_overdraft_limit_is_rejected() {
    given(&[opened_with(500, None), deposited(1_000)])
        .when(debit_transfer(1_501))
        .then_error(AccountError::InsufficientFunds {
            available: 1_500,
            requested: 1_501,
        });
}

#[test]
fn a_withdrawal_and_a_transfer_out_on_one_utc_day_share_the_daily_limit() {
    let morning = utc(2025, 3, 14, 8, 0, 0);
    let evening = utc(2025, 3, 14, 20, 0, 0);
    let history = [opened_with(0, Some(1_000)), deposited(5_000)];

    given(&[history.to_vec(), vec![withdrawn_at(600, morning)]].concat())
        .when(debit_transfer_with(other_account(), 401, eur(), evening))
        .then_error(AccountError::DailyLimitExceeded {
            limit: 1_000,
            withdrawn_today: 600,
            requested: 401,
        });
    given(&[history.to_vec(), vec![transfer_debited_as(tx(1), 600, morning)]].concat())
        .when(withdraw_at(401, evening))
        .then_error(AccountError::DailyLimitExceeded {
            limit: 1_000,
            withdrawn_today: 600,
            requested: 401,
        });
}

#[test]
fn a_withdrawal_and_a_transfer_out_up_to_exactly_the_daily_limit_are_accepted() {
    let evening = utc(2025, 3, 14, 20, 0, 0);

    let state = given(&[opened_with(0, Some(1_000)), deposited(5_000), withdrawn(600)])
        .when(debit_transfer_with(other_account(), 400, eur(), evening))
        .then(&[transfer_debited_as(transaction_id(), 400, evening)]);

    assert_eq!(account_in(&state).withdrawn_on(evening.date_naive()), 1_000);
}

#[test]
fn an_incoming_transfer_credits_the_balance() {
    let state = given(&[opened(), deposited(1_000)])
        .when(credit_transfer(300))
        .then(&[transfer_credited(300)]);

    assert_eq!(balance_of(&state), 1_300);
    assert!(
        account_in(&state)
            .transfers_in
            .contains_key(&incoming_transfer_id())
    );
}

#[test]
fn a_frozen_account_still_receives_transfers() {
    let state = given(&[opened(), frozen()])
        .when(credit_transfer(300))
        .then(&[transfer_credited(300)]);

    assert_eq!(balance_of(&state), 300);
}

#[test]
fn a_closed_account_refuses_incoming_transfers() {
    given(&[opened(), closed()])
        .when(credit_transfer(300))
        .then_error(AccountError::AccountClosed);
}

#[test]
fn an_incoming_transfer_in_another_currency_is_rejected() {
    given(&[opened()])
        .when(credit_transfer_in(300, usd()))
        .then_error(AccountError::CurrencyMismatch {
            account: eur(),
            requested: usd(),
        });
}

#[test]
fn an_account_that_was_never_opened_refuses_incoming_transfers() {
    given(&[])
        .when(credit_transfer(300))
        .then_error(AccountError::NotOpened);
}

#[test]
fn an_incoming_transfer_credited_twice_is_credited_once() {
    let state = given(&[opened(), transfer_credited(300)])
        .when(credit_transfer(300))
        .then(&[]);

    assert_eq!(balance_of(&state), 300);
}

#[test]
fn an_incoming_transfer_above_the_maximum_balance_is_rejected() {
    let history = history_with_balance(opened(), MAX_BALANCE_MINOR_UNITS - 1);

    given(&history)
        .when(credit_transfer(2))
        .then_error(AccountError::Overflow);
}

/// Bug: `decide` checks `Closed` before recognising a repeat. A process manager that credited
/// the destination, then crashed before completing the source, replays the credit; if the owner
/// emptied and closed the destination meanwhile, the replay is refused with `AccountClosed`,
/// which the manager reads as "the destination refused" and refunds the source: paid twice.
#[test]
fn a_repeated_incoming_transfer_is_recognised_even_after_the_account_closed() {
    given(&[opened(), transfer_credited(300), withdrawn(300), closed()])
        .when(credit_transfer(300))
        .then(&[]);
}

#[test]
fn completing_a_pending_transfer_settles_it() {
    let state = given(&[opened(), deposited(1_000), transfer_debited(300)])
        .when(complete_transfer())
        .then(&[transfer_completed()]);

    assert_eq!(balance_of(&state), 700);
    assert_eq!(
        outgoing_transfer(&state).map(|transfer| transfer.status),
        Some(TransferStatus::Completed)
    );
    assert!(!account_in(&state).has_pending_transfers());
}

#[test]
fn completing_a_completed_transfer_again_emits_nothing() {
    given(&[
        opened(),
        deposited(1_000),
        transfer_debited(300),
        transfer_completed(),
    ])
    .when(complete_transfer())
    .then(&[]);
}

#[test]
fn refunding_a_pending_transfer_gives_the_money_back_with_the_reason() {
    let state = given(&[opened(), deposited(1_000), transfer_debited(300)])
        .when(refund_transfer())
        .then(&[transfer_refunded(300)]);

    assert_eq!(balance_of(&state), 1_000);
    assert_eq!(
        outgoing_transfer(&state).map(|transfer| transfer.status),
        Some(TransferStatus::Refunded)
    );
    assert!(!account_in(&state).has_pending_transfers());
}

#[test]
fn a_frozen_account_still_takes_back_a_refunded_transfer() {
    let state = given(&[opened(), deposited(1_000), transfer_debited(300), frozen()])
        .when(refund_transfer())
        .then(&[transfer_refunded(300)]);

    assert_eq!(balance_of(&state), 1_000);
}

#[test]
fn refunding_a_transfer_twice_gives_the_money_back_once() {
    let state = given(&[
        opened(),
        deposited(1_000),
        transfer_debited(300),
        transfer_refunded(300),
    ])
    .when(refund_transfer())
    .then(&[]);

    assert_eq!(balance_of(&state), 1_000);
}

#[test]
fn settling_a_transfer_the_account_never_sent_is_rejected() {
    // An incoming transfer is not one this account can settle either.
    for history in [
        vec![opened(), deposited(1_000)],
        vec![opened(), transfer_credited(300)],
    ] {
        given(&history)
            .when(complete_transfer())
            .then_error(AccountError::TransferNotFound(outgoing_transfer_id()));
        given(&history)
            .when(refund_transfer())
            .then_error(AccountError::TransferNotFound(outgoing_transfer_id()));
    }
}

#[test]
fn completing_a_refunded_transfer_is_rejected() {
    given(&[
        opened(),
        deposited(1_000),
        transfer_debited(300),
        transfer_refunded(300),
    ])
    .when(complete_transfer())
    .then_error(AccountError::TransferNotFound(outgoing_transfer_id()));
}

#[test]
fn refunding_a_completed_transfer_is_rejected() {
    given(&[
        opened(),
        deposited(1_000),
        transfer_debited(300),
        transfer_completed(),
    ])
    .when(refund_transfer())
    .then_error(AccountError::TransferNotFound(outgoing_transfer_id()));
}

/// Compensation is never refused: while a transfer is pending the source may be refilled up to
/// the maximum balance, and its refund still goes through (a refused refund would strand the
/// money in flight and stop the process manager). The cap sits far enough below `i64::MAX` for that.
#[test]
fn a_refund_is_accepted_even_on_a_balance_refilled_to_the_maximum() {
    let mut history = history_with_balance(opened(), MAX_BALANCE_MINOR_UNITS);
    history.splice(1..1, [deposited(1_000), transfer_debited(1_000)]);

    let state = given(&history)
        .when(refund_transfer())
        .then(&[transfer_refunded(1_000)]);

    assert_eq!(balance_of(&state), MAX_BALANCE_MINOR_UNITS + 1_000);
}
