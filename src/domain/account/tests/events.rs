//! Events as stored and as folded: the JSON form of an event, the balance change each one
//! carries, and a fold that skips what does not fit instead of panicking.

use serde_json::json;
use uuid::Uuid;

use super::fixtures::*;
use crate::domain::Decider;
use crate::domain::account::{AccountDecider, AccountEvent, AccountState};
use crate::domain::ids::TransactionId;

#[test]
fn events_before_an_opening_are_ignored_when_folding() {
    // `decide` never produces such a history, but `evolve` must be total: it skips, not panics.
    let state = AccountDecider::fold(&[deposited(100), closed()]);

    assert_eq!(state, AccountState::NotOpened);
}

#[test]
fn events_are_stored_as_a_type_tag_and_a_data_object() {
    let event = AccountEvent::MoneyDeposited {
        transaction_id: TransactionId(Uuid::from_u128(42)),
        amount: amount(1_250),
        currency: eur(),
        description: Some(text("rent for March")),
        occurred_at: now(),
    };

    let stored = serde_json::to_value(&event).expect("an event serializes");

    assert_eq!(
        stored,
        json!({
            "type": "MoneyDeposited",
            "data": {
                "transaction_id": "00000000-0000-0000-0000-00000000002a",
                "amount": 1250,
                "currency": "EUR",
                "description": "rent for March",
                "occurred_at": "2025-03-14T09:00:00Z",
            },
        })
    );
}

#[test]
fn every_new_event_moves_the_balance_by_its_signed_amount() {
    let changes: Vec<i64> = [
        transfer_debited(300),
        transfer_credited(200),
        transfer_completed(),
        transfer_refunded(300),
        reversed(tx(1), -1_000),
        reversed(tx(2), 400),
    ]
    .iter()
    .map(AccountEvent::balance_change)
    .collect();

    assert_eq!(changes, [-300, 200, 0, 300, -1_000, 400]);
}

#[test]
fn a_transfer_debit_is_stored_as_a_type_tag_and_a_data_object() {
    let stored = serde_json::to_value(transfer_debited(1_250)).expect("an event serializes");

    assert_eq!(
        stored,
        json!({
            "type": "TransferDebited",
            "data": {
                "transfer_id": "00000000-0000-0000-0000-00000000000e",
                "transaction_id": "00000000-0000-0000-0000-00000000000c",
                "to_account": "00000000-0000-0000-0000-00000000000d",
                "amount": 1250,
                "currency": "EUR",
                "description": null,
                "occurred_at": "2025-03-14T09:00:00Z",
            },
        })
    );
}

#[test]
fn a_reversal_is_stored_with_its_signed_amount() {
    let stored = serde_json::to_value(reversed(tx(1), -1_250)).expect("an event serializes");

    assert_eq!(
        stored,
        json!({
            "type": "TransactionReversed",
            "data": {
                "reversal_id": "00000000-0000-0000-0000-00000000000f",
                "transaction_id": "00000000-0000-0000-0000-000000000101",
                "signed_amount": -1250,
                "currency": "EUR",
                "occurred_at": "2025-03-14T09:00:00Z",
            },
        })
    );
}
