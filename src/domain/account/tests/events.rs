//! Events as stored and as folded: the JSON form of an event and the `event_type` it is stored
//! under, the names commands are recorded under, the balance change each event carries, and a
//! fold that skips what does not fit instead of panicking.

use serde_json::json;
use strum::VariantArray;
use uuid::Uuid;

use super::fixtures::*;
use crate::domain::Decider;
use crate::domain::account::{AccountDecider, AccountEvent, AccountEventType, AccountState, RefundReason};
use crate::domain::ids::TransactionId;

/// An event of the kind `kind`. The match is exhaustive, so a new kind of event does not compile
/// here until it has an example, and the tests below cover it.
fn example_of(kind: AccountEventType) -> AccountEvent {
    match kind {
        AccountEventType::AccountOpened => opened(),
        AccountEventType::MoneyDeposited => deposited(100),
        AccountEventType::MoneyWithdrawn => withdrawn(100),
        AccountEventType::AccountFrozen => frozen(),
        AccountEventType::AccountUnfrozen => unfrozen(),
        AccountEventType::AccountClosed => closed(),
        AccountEventType::HolderRenamed => holder_renamed("pd1:a sealed name"),
        AccountEventType::TransferDebited => transfer_debited(100),
        AccountEventType::TransferCredited => transfer_credited(100),
        AccountEventType::TransferCompleted => transfer_completed(),
        AccountEventType::TransferRefunded => transfer_refunded(100),
        AccountEventType::TransactionReversed => reversed(tx(1), -100),
        AccountEventType::HoldPlaced => hold_placed(100),
        AccountEventType::HoldCaptured => hold_captured(60, 40),
        AccountEventType::HoldVoided => hold_voided(100),
        AccountEventType::HoldExpired => hold_expired(100),
        AccountEventType::AccountOverdrawn => AccountEvent::AccountOverdrawn {
            transaction_id: tx(1),
            balance: -100,
            currency: eur(),
            occurred_at: now(),
        },
        AccountEventType::OverdraftFeeCharged => AccountEvent::OverdraftFeeCharged {
            transaction_id: tx(2),
            cause: tx(1),
            amount: amount(500),
            currency: eur(),
            occurred_at: now(),
        },
    }
}

#[test]
fn every_event_type_is_the_serde_tag_and_parses_back_into_its_kind() {
    for &kind in AccountEventType::VARIANTS {
        let event = example_of(kind);
        let stored = serde_json::to_value(&event).expect("an event serializes");

        assert_eq!(AccountEventType::from(&event), kind);
        assert_eq!(stored["type"], event.event_type(), "the serde tag of {kind:?}");
        assert_eq!(event.event_type().parse::<AccountEventType>(), Ok(kind));
        assert_eq!(kind.to_string(), event.event_type());
        assert_eq!(
            serde_json::to_value(kind).expect("a kind serializes"),
            event.event_type()
        );
    }
}

#[test]
fn an_unknown_event_type_does_not_parse() {
    assert!("MoneyTeleported".parse::<AccountEventType>().is_err());
    assert!("moneydeposited".parse::<AccountEventType>().is_err());
}

/// The names are stored in the metadata of every event a command causes: they may never change.
#[test]
fn commands_are_recorded_under_their_stable_names() {
    let names: Vec<&str> = [
        open(terms()),
        deposit(100),
        withdraw(100),
        freeze(),
        unfreeze(),
        close(),
        debit_transfer(100),
        credit_transfer(100),
        complete_transfer(),
        refund_transfer(),
        reverse(tx(1)),
        place_hold(100),
        capture_hold(None),
        void_hold(),
        expire_hold(hold_deadline()),
    ]
    .iter()
    .map(|command| command.name())
    .collect();

    assert_eq!(
        names,
        [
            "OpenAccount",
            "Deposit",
            "Withdraw",
            "Freeze",
            "Unfreeze",
            "Close",
            "DebitTransfer",
            "CreditTransfer",
            "CompleteTransfer",
            "RefundTransfer",
            "Reverse",
            "PlaceHold",
            "CaptureHold",
            "VoidHold",
            "ExpireHold",
        ]
    );
}

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

/// The codes are already stored in `TransferRefunded` payloads: each must still deserialize into
/// its reason, and serialize, display and parse as exactly the same string.
#[test]
fn refund_reasons_keep_the_codes_already_stored() {
    let codes = [
        ("destination-not-found", RefundReason::DestinationNotFound),
        ("destination-closed", RefundReason::DestinationClosed),
        ("currency-mismatch", RefundReason::CurrencyMismatch),
        (
            "destination-balance-overflow",
            RefundReason::DestinationBalanceOverflow,
        ),
        ("transfer-id-reused", RefundReason::TransferIdReused),
        ("destination-refused", RefundReason::DestinationRefused),
    ];

    for (code, reason) in codes {
        let stored = json!({
            "type": "TransferRefunded",
            "data": {
                "transfer_id": "00000000-0000-0000-0000-00000000000e",
                "transaction_id": "00000000-0000-0000-0000-00000000000c",
                "to_account": "00000000-0000-0000-0000-00000000000d",
                "amount": 300,
                "currency": "EUR",
                "reason": code,
                "occurred_at": "2025-03-14T09:00:00Z",
            },
        });

        let event: AccountEvent =
            serde_json::from_value(stored.clone()).expect("a stored refund deserializes");

        assert_eq!(
            event,
            AccountEvent::TransferRefunded {
                transfer_id: outgoing_transfer_id(),
                transaction_id: transaction_id(),
                to_account: other_account(),
                amount: amount(300),
                currency: eur(),
                reason,
                occurred_at: now(),
            }
        );
        assert_eq!(serde_json::to_value(&event).expect("an event serializes"), stored);
        assert_eq!(<&str>::from(reason), code);
        assert_eq!(reason.to_string(), code);
        assert_eq!(code.parse::<RefundReason>(), Ok(reason));
    }
}

/// The state is what a snapshot stores and what the command cache keeps: it must not grow with
/// the history. Ten thousand movements (deposits, withdrawals spread over many days, reversals,
/// a freeze and an unfreeze) fold into a state of a few hundred bytes.
#[test]
fn the_state_of_a_ten_thousand_event_account_serializes_in_under_two_kib() {
    let mut history = vec![opened_with(5_000, Some(1_000_000))];
    for n in 0..10_000_u128 {
        let at = now() + chrono::Duration::minutes(i64::try_from(n).unwrap_or(0) * 7);
        history.push(match n % 5 {
            0 | 1 => deposited_as(tx(n + 10), 1_000),
            2 => withdrawn_at(700, at),
            3 => reversed_at(tx(n + 8), -1_000, at),
            _ if n == 4_004 => frozen(),
            _ if n == 4_009 => unfrozen(),
            _ => withdrawn_at(100, at),
        });
    }
    let state = AccountDecider::fold(&history);
    let AccountState::Opened(_) = &state else {
        panic!("the account is open");
    };

    let size = serde_json::to_vec(&state)
        .map(|json| json.len())
        .unwrap_or(usize::MAX);
    assert!(size < 2_048, "the state of 10,001 events takes {size} bytes");
}
