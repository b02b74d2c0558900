//! What must hold whatever clients send, checked over random scenarios: the overdraft floor, the
//! daily limit, the balance as the sum of what the events moved, agreement with the model of the
//! rules, idempotent settlements, snapshots taken anywhere, and the stored JSON form of every
//! event.
//!
//! proptest keeps the seeds of past failures by the path of this file, in
//! `proptest-regressions/domain/account/tests/properties.txt`: moving the file means moving them.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use proptest::prelude::*;
use uuid::Uuid;

use super::model::{Model, Verdict};
use super::scenarios::{any_scenario, any_scenario_with_a_daily_limit, play, stream};
use super::{account_in, balance_of};
use crate::domain::Decider;
use crate::domain::account::{
    AccountCommand, AccountDecider, AccountEvent, AccountState, CreditTransfer, RefundTransfer,
};
use crate::domain::ids::TransactionId;

/// The same transfer settled again by a replaying process manager, under a fresh movement id.
fn repeat_of(event: &AccountEvent) -> Option<AccountCommand> {
    let transaction_id = TransactionId(Uuid::from_u128(0xFEED));
    match event {
        AccountEvent::TransferCredited {
            transfer_id,
            from_account,
            amount,
            currency,
            description,
            occurred_at,
            ..
        } => Some(AccountCommand::CreditTransfer(CreditTransfer {
            transfer_id: *transfer_id,
            transaction_id,
            from_account: *from_account,
            amount: *amount,
            currency: *currency,
            description: description.clone(),
            occurred_at: *occurred_at,
        })),
        AccountEvent::TransferRefunded {
            transfer_id,
            reason,
            occurred_at,
            ..
        } => Some(AccountCommand::RefundTransfer(RefundTransfer {
            transfer_id: *transfer_id,
            transaction_id,
            reason: *reason,
            occurred_at: *occurred_at,
        })),
        _ => None,
    }
}

/// The overdraft fees `events` charged, in minor units.
fn fees_in(events: &[AccountEvent]) -> i64 {
    events
        .iter()
        .map(|event| match event {
            AccountEvent::OverdraftFeeCharged { amount, .. } => amount.minor_units(),
            _ => 0,
        })
        .sum()
}

proptest! {
    #[test]
    fn the_balance_never_falls_below_minus_the_overdraft_limit(scenario in any_scenario()) {
        // Only the bank's overdraft fees may take it further, by no more than they charged.
        let mut fees = 0_i64;
        for step in play(&scenario) {
            fees += fees_in(step.events());
            let account = account_in(&step.after);
            prop_assert!(
                account.balance.minor_units >= -account.overdraft_limit.minor_units() - fees,
                "{:?} left the balance at {} with {} charged in fees",
                step.command,
                account.balance.minor_units,
                fees,
            );
        }
    }

    #[test]
    fn money_held_is_never_spent_twice(scenario in any_scenario()) {
        // What open holds set aside stays within the balance and the overdraft: a withdrawal,
        // a transfer, a reversal or another hold never takes it.
        // (An overdraft fee, the bank's charge, may take the balance below it.)
        let mut fees = 0_i64;
        for step in play(&scenario) {
            fees += fees_in(step.events());
            let account = account_in(&step.after);
            prop_assert!(
                account.balance.minor_units - account.held() >= -account.overdraft_limit.minor_units() - fees,
                "{:?} left the balance at {} with {} held",
                step.command,
                account.balance.minor_units,
                account.held(),
            );
        }
    }

    #[test]
    fn the_balance_is_the_sum_of_the_amounts_of_the_money_events(scenario in any_scenario()) {
        // Written from what each event says it moved, not from `balance_change` (which is what
        // `evolve` adds, and so could not disagree with it).
        let mut sum = 0_i64;
        for step in play(&scenario) {
            for event in step.events() {
                sum += match event {
                    AccountEvent::MoneyDeposited { amount, .. }
                    | AccountEvent::TransferCredited { amount, .. }
                    | AccountEvent::TransferRefunded { amount, .. } => amount.minor_units(),
                    AccountEvent::MoneyWithdrawn { amount, .. }
                    | AccountEvent::TransferDebited { amount, .. }
                    | AccountEvent::HoldCaptured { amount, .. }
                    | AccountEvent::OverdraftFeeCharged { amount, .. } => -amount.minor_units(),
                    AccountEvent::TransactionReversed { signed_amount, .. } => *signed_amount,
                    AccountEvent::AccountOpened { .. }
                    | AccountEvent::AccountFrozen { .. }
                    | AccountEvent::AccountUnfrozen { .. }
                    | AccountEvent::AccountClosed { .. }
                    | AccountEvent::HolderRenamed { .. }
                    | AccountEvent::TransferCompleted { .. }
                    | AccountEvent::HoldPlaced { .. }
                    | AccountEvent::HoldVoided { .. }
                    | AccountEvent::HoldExpired { .. }
                    | AccountEvent::AccountOverdrawn { .. } => 0,
                };
            }
            prop_assert_eq!(balance_of(&step.after), sum, "after {:?}", step.command);
        }
    }

    #[test]
    fn withdrawals_and_transfers_out_on_one_utc_day_never_exceed_the_daily_limit(
        scenario in any_scenario_with_a_daily_limit(),
    ) {
        let daily_limit = scenario.terms.daily_withdrawal_limit.expect("a daily limit");
        // A transfer refunded on the day of its debit gives its amount back to that day, so
        // the limit holds for the running total, after every payment.
        let mut paid_out_per_day = BTreeMap::<NaiveDate, i64>::new();
        let mut debited_on = BTreeMap::new();
        let mut placed_on = BTreeMap::new();
        for event in stream(&play(&scenario)) {
            let (day, change) = match event {
                AccountEvent::MoneyWithdrawn { amount, occurred_at, .. } => {
                    (occurred_at.date_naive(), amount.minor_units())
                }
                AccountEvent::TransferDebited { transfer_id, amount, occurred_at, .. } => {
                    debited_on.insert(transfer_id, occurred_at.date_naive());
                    (occurred_at.date_naive(), amount.minor_units())
                }
                AccountEvent::TransferRefunded { transfer_id, amount, occurred_at, .. }
                    if debited_on.get(&transfer_id) == Some(&occurred_at.date_naive()) =>
                {
                    (occurred_at.date_naive(), -amount.minor_units())
                }
                // A hold counts when it is placed; what it releases on that day is given back.
                AccountEvent::HoldPlaced { hold_id, amount, occurred_at, .. } => {
                    placed_on.insert(hold_id, occurred_at.date_naive());
                    (occurred_at.date_naive(), amount.minor_units())
                }
                AccountEvent::HoldCaptured { hold_id, released, occurred_at, .. }
                | AccountEvent::HoldVoided { hold_id, released, occurred_at, .. }
                | AccountEvent::HoldExpired { hold_id, released, occurred_at, .. }
                    if placed_on.get(&hold_id) == Some(&occurred_at.date_naive()) =>
                {
                    (occurred_at.date_naive(), -released)
                }
                _ => continue,
            };
            let total = paid_out_per_day.entry(day).or_default();
            *total += change;
            prop_assert!(*total <= daily_limit.minor_units(), "{} paid out on {day}", *total);
        }
    }

    #[test]
    fn a_command_is_refused_exactly_when_it_breaks_a_rule(scenario in any_scenario()) {
        let steps = play(&scenario);
        prop_assert!(steps[0].outcome.is_ok(), "the opening was refused: {:?}", steps[0].outcome);
        let mut model = Model::opened(&scenario.terms);
        for step in &steps[1..] {
            let verdict = model.handle(&step.command);
            let agrees = match (verdict, &step.outcome) {
                (Verdict::Refused, Err(_)) => true,
                (Verdict::AlreadyDone, Ok(events)) => events.is_empty(),
                // A movement that crossed below zero on an account with a fee is followed by
                // the crossing, which moves no money.
                (Verdict::Accepted { balance_change }, Ok(events)) => match events.as_slice() {
                    [event] => !model.crossed && event.balance_change() == balance_change,
                    [event, AccountEvent::AccountOverdrawn { .. }] => {
                        model.crossed && event.balance_change() == balance_change
                    }
                    _ => false,
                },
                _ => false,
            };
            prop_assert!(
                agrees,
                "{:?} decided as {:?}, the model expected {:?}; model after: {:?}",
                step.command,
                step.outcome,
                verdict,
                model,
            );
            prop_assert_eq!(balance_of(&step.after), model.balance);
            if step.events().is_empty() {
                // A refusal is an `Err`, which carries no events, and so is a repeat: nothing
                // can change.
                prop_assert_eq!(&step.after, &step.before, "{:?} changed the state", step.command);
            }
        }
    }

    #[test]
    fn a_credited_or_refunded_transfer_settled_again_emits_nothing(scenario in any_scenario()) {
        let steps = play(&scenario);
        let mut settled = Vec::new();
        for step in &steps {
            settled.extend(step.events().iter().filter_map(repeat_of));
            for repeat in &settled {
                // Even on an account closed since: a repeat is recognised before any rule, or
                // the process manager would take it for a refusal and refund a credited transfer.
                let outcome = AccountDecider::decide(&step.after, repeat.clone());
                prop_assert_eq!(outcome, Ok(Vec::new()), "{:?} after {:?}", repeat, step.command);
            }
        }
    }

    #[test]
    fn a_snapshot_stored_anywhere_plus_the_rest_of_the_stream_folds_to_the_same_state(
        scenario in any_scenario(),
        cut in any::<proptest::sample::Index>(),
    ) {
        // A snapshot is the state serialized as it is stored (JSON) at some version; loading
        // reads it back and folds only the events after it. Whatever the version, that must
        // equal the fold of the whole stream: a field the snapshot loses, or one `evolve` reads
        // that the state does not keep, shows up here.
        let recorded = stream(&play(&scenario));
        let at = cut.index(recorded.len() + 1);
        let snapshot = serde_json::to_string(&AccountDecider::fold(&recorded[..at])).expect("serializes");
        let restored: AccountState = serde_json::from_str(&snapshot).expect("deserializes");
        let resumed = recorded[at..].iter().fold(restored, AccountDecider::evolve);
        prop_assert_eq!(resumed, AccountDecider::fold(&recorded), "snapshot at version {}", at);
    }

    #[test]
    fn every_event_round_trips_through_json_under_its_type(scenario in any_scenario()) {
        for event in stream(&play(&scenario)) {
            let json = serde_json::to_string(&event).expect("an event serializes");
            let stored: serde_json::Value = serde_json::from_str(&json).expect("the JSON is valid");
            prop_assert_eq!(stored["type"].as_str(), Some(event.event_type()));
            let back: AccountEvent = serde_json::from_str(&json).expect("an event deserializes");
            prop_assert_eq!(back, event);
        }
    }
}
