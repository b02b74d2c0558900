//! The values, commands and events the examples are written in: one account in EUR, one
//! counterpart, fixed ids and a fixed "now", so that an example names only what it is about.

use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::domain::account::{
    AccountCommand, AccountEvent, CaptureHold, Close, CompleteTransfer, CreditTransfer, DebitTransfer,
    Deposit, ExpireHold, Freeze, FrozenBy, OpenAccount, PlaceHold, RefundReason, RefundTransfer,
    RenameHolder, Reverse, Unfreeze, VoidHold, Withdraw,
};
use crate::domain::ids::{AccountId, HoldId, OwnerId, TransactionId, TransferId};
use crate::domain::money::{Amount, Currency, Limit, MAX_AMOUNT_MINOR_UNITS};
use crate::domain::personal::Personal;

pub(super) fn eur() -> Currency {
    "EUR".parse().expect("EUR is supported")
}

pub(super) fn usd() -> Currency {
    "USD".parse().expect("USD is supported")
}

#[track_caller]
pub(super) fn amount(minor_units: i64) -> Amount {
    Amount::new(minor_units).expect("test amounts are within 1..=10^15")
}

#[track_caller]
pub(super) fn limit(minor_units: i64) -> Limit {
    Limit::new(minor_units).expect("test limits are within 0..=10^15")
}

/// A personal field as a command carries it: the domain never reads inside, so any string does.
pub(super) fn text(text: &str) -> Personal {
    Personal::new(text)
}

pub(super) fn account_id() -> AccountId {
    AccountId(Uuid::from_u128(0xA))
}

pub(super) fn owner_id() -> OwnerId {
    OwnerId(Uuid::from_u128(0xB))
}

/// One id for every movement in the examples: `decide` carries movement ids into the events
/// unchanged, and only reversals look them up; their examples give each movement its own [`tx`].
pub(super) fn transaction_id() -> TransactionId {
    TransactionId(Uuid::from_u128(0xC))
}

#[track_caller]
pub(super) fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .single()
        .expect("a valid UTC instant")
}

/// When the examples happen, unless they say otherwise.
pub(super) fn now() -> DateTime<Utc> {
    utc(2025, 3, 14, 9, 0, 0)
}

/// EUR, no overdraft, no daily limit, no opening deposit.
pub(super) fn terms() -> OpenAccount {
    OpenAccount {
        account_id: account_id(),
        owner_id: owner_id(),
        currency: eur(),
        overdraft_limit: Limit::ZERO,
        daily_withdrawal_limit: None,
        initial_deposit: None,
        holder_name: None,
        overdraft_fee: None,
        occurred_at: now(),
    }
}

pub(super) fn open(terms: OpenAccount) -> AccountCommand {
    AccountCommand::Open(terms)
}

pub(super) fn deposit(minor_units: i64) -> AccountCommand {
    deposit_in(minor_units, eur())
}

pub(super) fn deposit_in(minor_units: i64, currency: Currency) -> AccountCommand {
    AccountCommand::Deposit(Deposit {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at: now(),
    })
}

pub(super) fn withdraw(minor_units: i64) -> AccountCommand {
    withdraw_at(minor_units, now())
}

pub(super) fn withdraw_at(minor_units: i64, occurred_at: DateTime<Utc>) -> AccountCommand {
    AccountCommand::Withdraw(Withdraw {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at,
    })
}

pub(super) fn withdraw_in(minor_units: i64, currency: Currency) -> AccountCommand {
    AccountCommand::Withdraw(Withdraw {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at: now(),
    })
}

/// The bank freezes the account.
pub(super) fn freeze() -> AccountCommand {
    freeze_by(FrozenBy::Bank)
}

pub(super) fn freeze_by(by: FrozenBy) -> AccountCommand {
    AccountCommand::Freeze(Freeze {
        reason: text("suspected fraud"),
        by,
        occurred_at: now(),
    })
}

/// The bank lifts the freeze.
pub(super) fn unfreeze() -> AccountCommand {
    unfreeze_by(FrozenBy::Bank)
}

pub(super) fn unfreeze_by(by: FrozenBy) -> AccountCommand {
    AccountCommand::Unfreeze(Unfreeze {
        by,
        reason: None,
        occurred_at: now(),
    })
}

pub(super) fn close() -> AccountCommand {
    AccountCommand::Close(Close { occurred_at: now() })
}

pub(super) fn every_command_but_open() -> Vec<AccountCommand> {
    vec![
        place_hold(100),
        capture_hold(None),
        void_hold(),
        expire_hold(now() + Duration::days(1)),
        deposit(100),
        withdraw(100),
        freeze(),
        unfreeze(),
        close(),
        debit_transfer(100),
        credit_transfer(100),
        complete_transfer(),
        refund_transfer(),
        reverse(transaction_id()),
        rename_holder("pd1:a sealed name"),
    ]
}

pub(super) fn rename_holder(name: &str) -> AccountCommand {
    AccountCommand::RenameHolder(RenameHolder {
        holder_name: text(name),
        occurred_at: now(),
    })
}

/// Opened with the default [`terms`].
pub(super) fn opened() -> AccountEvent {
    opened_with(0, None)
}

pub(super) fn opened_with(overdraft_limit: i64, daily_withdrawal_limit: Option<i64>) -> AccountEvent {
    opened_on(overdraft_limit, daily_withdrawal_limit, None)
}

/// Opened with an overdraft limit and an overdraft fee.
pub(super) fn opened_with_fee(overdraft_limit: i64, fee: i64) -> AccountEvent {
    opened_on(overdraft_limit, None, Some(fee))
}

fn opened_on(
    overdraft_limit: i64,
    daily_withdrawal_limit: Option<i64>,
    overdraft_fee: Option<i64>,
) -> AccountEvent {
    AccountEvent::AccountOpened {
        account_id: account_id(),
        owner_id: owner_id(),
        currency: eur(),
        overdraft_limit: limit(overdraft_limit),
        daily_withdrawal_limit: daily_withdrawal_limit.map(limit),
        holder_name: None,
        overdraft_fee: overdraft_fee.map(amount),
        occurred_at: now(),
    }
}

pub(super) fn holder_renamed(name: &str) -> AccountEvent {
    AccountEvent::HolderRenamed {
        holder_name: text(name),
        occurred_at: now(),
    }
}

pub(super) fn deposited(minor_units: i64) -> AccountEvent {
    AccountEvent::MoneyDeposited {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at: now(),
    }
}

pub(super) fn withdrawn(minor_units: i64) -> AccountEvent {
    withdrawn_at(minor_units, now())
}

pub(super) fn withdrawn_at(minor_units: i64, occurred_at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::MoneyWithdrawn {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at,
    }
}

/// Frozen by the bank.
pub(super) fn frozen() -> AccountEvent {
    frozen_by(FrozenBy::Bank)
}

pub(super) fn frozen_by(by: FrozenBy) -> AccountEvent {
    AccountEvent::AccountFrozen {
        reason: text("suspected fraud"),
        by,
        occurred_at: now(),
    }
}

pub(super) fn unfrozen() -> AccountEvent {
    AccountEvent::AccountUnfrozen {
        reason: None,
        occurred_at: now(),
    }
}

pub(super) fn closed() -> AccountEvent {
    AccountEvent::AccountClosed { occurred_at: now() }
}

/// `opening` followed by deposits adding up to `balance`. A single deposit is capped at 10^15
/// minor units, so a balance near `i64::MAX` takes about 9,200 of them.
pub(super) fn history_with_balance(opening: AccountEvent, balance: i64) -> Vec<AccountEvent> {
    let full_deposits = balance / MAX_AMOUNT_MINOR_UNITS;
    let rest = balance % MAX_AMOUNT_MINOR_UNITS;
    let mut history = vec![opening];
    history.extend((0..full_deposits).map(|_| deposited(MAX_AMOUNT_MINOR_UNITS)));
    if rest > 0 {
        history.push(deposited(rest));
    }
    history
}

/// The other side of the transfers in the examples.
pub(super) fn other_account() -> AccountId {
    AccountId(Uuid::from_u128(0xD))
}

/// The transfer this account sends in the examples.
pub(super) fn outgoing_transfer_id() -> TransferId {
    TransferId(Uuid::from_u128(0xE))
}

/// The transfer this account receives in the examples.
pub(super) fn incoming_transfer_id() -> TransferId {
    TransferId(Uuid::from_u128(0xE1))
}

/// A movement id of its own, for the examples whose rule looks movements up by id.
pub(super) fn tx(n: u128) -> TransactionId {
    TransactionId(Uuid::from_u128(0x100 + n))
}

/// The id of the reversing movement in the examples.
pub(super) fn reversal_id() -> TransactionId {
    TransactionId(Uuid::from_u128(0xF))
}

/// Why the destination refused, in the refund examples.
const REFUND_REASON: RefundReason = RefundReason::DestinationNotFound;

pub(super) fn debit_transfer(minor_units: i64) -> AccountCommand {
    debit_transfer_with(other_account(), minor_units, eur(), now())
}

pub(super) fn debit_transfer_with(
    to_account: AccountId,
    minor_units: i64,
    currency: Currency,
    occurred_at: DateTime<Utc>,
) -> AccountCommand {
    AccountCommand::DebitTransfer(DebitTransfer {
        transfer_id: outgoing_transfer_id(),
        transaction_id: transaction_id(),
        to_account,
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at,
    })
}

pub(super) fn transfer_debited(minor_units: i64) -> AccountEvent {
    transfer_debited_as(transaction_id(), minor_units, now())
}

pub(super) fn transfer_debited_as(
    transaction_id: TransactionId,
    minor_units: i64,
    occurred_at: DateTime<Utc>,
) -> AccountEvent {
    AccountEvent::TransferDebited {
        transfer_id: outgoing_transfer_id(),
        transaction_id,
        to_account: other_account(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at,
    }
}

pub(super) fn credit_transfer(minor_units: i64) -> AccountCommand {
    credit_transfer_in(minor_units, eur())
}

pub(super) fn credit_transfer_in(minor_units: i64, currency: Currency) -> AccountCommand {
    AccountCommand::CreditTransfer(CreditTransfer {
        transfer_id: incoming_transfer_id(),
        transaction_id: transaction_id(),
        from_account: other_account(),
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at: now(),
    })
}

pub(super) fn transfer_credited(minor_units: i64) -> AccountEvent {
    transfer_credited_as(transaction_id(), minor_units)
}

pub(super) fn transfer_credited_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
    AccountEvent::TransferCredited {
        transfer_id: incoming_transfer_id(),
        transaction_id,
        from_account: other_account(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at: now(),
    }
}

pub(super) fn complete_transfer() -> AccountCommand {
    AccountCommand::CompleteTransfer(CompleteTransfer {
        transfer_id: outgoing_transfer_id(),
        occurred_at: now(),
    })
}

pub(super) fn transfer_completed() -> AccountEvent {
    AccountEvent::TransferCompleted {
        transfer_id: outgoing_transfer_id(),
        occurred_at: now(),
    }
}

pub(super) fn refund_transfer() -> AccountCommand {
    refund_transfer_at(now())
}

pub(super) fn refund_transfer_at(occurred_at: DateTime<Utc>) -> AccountCommand {
    AccountCommand::RefundTransfer(RefundTransfer {
        transfer_id: outgoing_transfer_id(),
        transaction_id: transaction_id(),
        reason: REFUND_REASON,
        occurred_at,
    })
}

pub(super) fn transfer_refunded(minor_units: i64) -> AccountEvent {
    transfer_refunded_as(transaction_id(), minor_units)
}

pub(super) fn transfer_refunded_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
    transfer_refunded_at(transaction_id, minor_units, now())
}

pub(super) fn transfer_refunded_at(
    transaction_id: TransactionId,
    minor_units: i64,
    occurred_at: DateTime<Utc>,
) -> AccountEvent {
    AccountEvent::TransferRefunded {
        transfer_id: outgoing_transfer_id(),
        transaction_id,
        to_account: other_account(),
        amount: amount(minor_units),
        currency: eur(),
        reason: REFUND_REASON,
        occurred_at,
    }
}

pub(super) fn deposited_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
    AccountEvent::MoneyDeposited {
        transaction_id,
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at: now(),
    }
}

pub(super) fn withdrawn_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
    AccountEvent::MoneyWithdrawn {
        transaction_id,
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at: now(),
    }
}

pub(super) fn reverse(original: TransactionId) -> AccountCommand {
    reverse_at(original, now())
}

pub(super) fn reverse_at(original: TransactionId, occurred_at: DateTime<Utc>) -> AccountCommand {
    AccountCommand::Reverse(Reverse {
        reversal_id: reversal_id(),
        transaction_id: original,
        // Filled in from the history by `given(..).when(..)`, as the handler does.
        original: None,
        occurred_at,
    })
}

pub(super) fn reversed(original: TransactionId, signed_amount: i64) -> AccountEvent {
    reversed_at(original, signed_amount, now())
}

pub(super) fn reversed_at(
    original: TransactionId,
    signed_amount: i64,
    occurred_at: DateTime<Utc>,
) -> AccountEvent {
    AccountEvent::TransactionReversed {
        reversal_id: reversal_id(),
        transaction_id: original,
        signed_amount,
        currency: eur(),
        occurred_at,
    }
}

pub(super) fn hold_id() -> HoldId {
    HoldId(Uuid::from_u128(0x401D))
}

/// When the examples' hold expires: a day after [`now`].
pub(super) fn hold_deadline() -> DateTime<Utc> {
    now() + Duration::days(1)
}

pub(super) fn place_hold(minor_units: i64) -> AccountCommand {
    AccountCommand::PlaceHold(PlaceHold {
        hold_id: hold_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: Some(text("hotel")),
        expires_at: hold_deadline(),
        occurred_at: now(),
    })
}

pub(super) fn capture_hold(minor_units: Option<i64>) -> AccountCommand {
    AccountCommand::CaptureHold(CaptureHold {
        hold_id: hold_id(),
        transaction_id: transaction_id(),
        amount: minor_units.map(amount),
        occurred_at: now(),
    })
}

pub(super) fn void_hold() -> AccountCommand {
    AccountCommand::VoidHold(VoidHold {
        hold_id: hold_id(),
        occurred_at: now(),
    })
}

pub(super) fn expire_hold(occurred_at: DateTime<Utc>) -> AccountCommand {
    AccountCommand::ExpireHold(ExpireHold {
        hold_id: hold_id(),
        occurred_at,
    })
}

pub(super) fn hold_placed(minor_units: i64) -> AccountEvent {
    AccountEvent::HoldPlaced {
        hold_id: hold_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: Some(text("hotel")),
        expires_at: hold_deadline(),
        occurred_at: now(),
    }
}

pub(super) fn hold_captured(minor_units: i64, released: i64) -> AccountEvent {
    AccountEvent::HoldCaptured {
        hold_id: hold_id(),
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        released,
        currency: eur(),
        occurred_at: now(),
    }
}

pub(super) fn hold_voided(released: i64) -> AccountEvent {
    AccountEvent::HoldVoided {
        hold_id: hold_id(),
        released,
        currency: eur(),
        occurred_at: now(),
    }
}

/// The hold expired, recorded at its deadline.
pub(super) fn hold_expired(released: i64) -> AccountEvent {
    AccountEvent::HoldExpired {
        hold_id: hold_id(),
        released,
        currency: eur(),
        occurred_at: hold_deadline(),
    }
}
