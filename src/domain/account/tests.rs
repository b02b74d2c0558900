//! The account's business rules as executable examples.
//!
//! Each example reads given (the events recorded so far) / when (a command) / then (the events the
//! command causes, or the typed error that refuses it). The property tests at the end drive random
//! command sequences (deposits, withdrawals, transfers in and out with their retries, settlements
//! and reversals) through `decide` and `evolve` and check what must hold whatever clients send:
//! the overdraft floor, the daily limit, balance as the sum of movements, agreement with a plain
//! model of the rules, idempotent settlements, replay, and the stored JSON form of every event.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::domain::Decider;
use crate::domain::ids::{AccountId, OwnerId, TransactionId, TransferId};
use crate::domain::money::{Amount, Currency, Limit, MAX_AMOUNT_MINOR_UNITS, Money};
use crate::domain::text::Text;

/// The history of an account, folded into its state.
struct Given {
    state: AccountState,
}

fn given(history: &[AccountEvent]) -> Given {
    Given {
        state: AccountDecider::fold(history),
    }
}

impl Given {
    fn when(self, command: AccountCommand) -> When {
        let outcome = AccountDecider::decide(&self.state, command.clone());
        When {
            state: self.state,
            command,
            outcome,
        }
    }
}

/// A command decided against a history, waiting for its expected outcome.
struct When {
    state: AccountState,
    command: AccountCommand,
    outcome: Result<Vec<AccountEvent>, AccountError>,
}

impl When {
    /// Asserts the command was accepted with exactly `expected` and returns the state after them.
    #[track_caller]
    fn then(self, expected: &[AccountEvent]) -> AccountState {
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "events caused by {:?}", self.command);
                events.iter().fold(self.state, AccountDecider::evolve)
            }
            Err(error) => panic!(
                "expected {:?} to be accepted, it was refused with {error:?}",
                self.command
            ),
        }
    }

    /// Asserts the command was refused with exactly `expected`.
    #[track_caller]
    fn then_error(self, expected: AccountError) {
        assert_eq!(self.outcome, Err(expected), "outcome of {:?}", self.command);
    }
}

#[track_caller]
fn account_in(state: &AccountState) -> &Account {
    match state {
        AccountState::Opened(account) => account,
        AccountState::NotOpened => panic!("expected an opened account, found none"),
    }
}

#[track_caller]
fn balance_of(state: &AccountState) -> i64 {
    account_in(state).balance.minor_units
}

fn eur() -> Currency {
    "EUR".parse().expect("EUR is supported")
}

fn usd() -> Currency {
    "USD".parse().expect("USD is supported")
}

#[track_caller]
fn amount(minor_units: i64) -> Amount {
    Amount::new(minor_units).expect("test amounts are within 1..=10^15")
}

#[track_caller]
fn limit(minor_units: i64) -> Limit {
    Limit::new(minor_units).expect("test limits are within 0..=10^15")
}

#[track_caller]
fn text(text: &str) -> Text {
    Text::new(text).expect("test text is valid")
}

fn account_id() -> AccountId {
    AccountId(Uuid::from_u128(0xA))
}

fn owner_id() -> OwnerId {
    OwnerId(Uuid::from_u128(0xB))
}

/// One id for every movement in the examples: `decide` carries movement ids into the events
/// unchanged, and only reversals look them up; their examples give each movement its own [`tx`].
fn transaction_id() -> TransactionId {
    TransactionId(Uuid::from_u128(0xC))
}

#[track_caller]
fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, second)
        .single()
        .expect("a valid UTC instant")
}

/// When the examples happen, unless they say otherwise.
fn now() -> DateTime<Utc> {
    utc(2025, 3, 14, 9, 0, 0)
}

/// EUR, no overdraft, no daily limit, no opening deposit.
fn terms() -> OpenAccount {
    OpenAccount {
        account_id: account_id(),
        owner_id: owner_id(),
        currency: eur(),
        overdraft_limit: Limit::ZERO,
        daily_withdrawal_limit: None,
        initial_deposit: None,
        occurred_at: now(),
    }
}

fn open(terms: OpenAccount) -> AccountCommand {
    AccountCommand::Open(terms)
}

fn deposit(minor_units: i64) -> AccountCommand {
    deposit_in(minor_units, eur())
}

fn deposit_in(minor_units: i64, currency: Currency) -> AccountCommand {
    AccountCommand::Deposit {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at: now(),
    }
}

fn withdraw(minor_units: i64) -> AccountCommand {
    withdraw_at(minor_units, now())
}

fn withdraw_at(minor_units: i64, occurred_at: DateTime<Utc>) -> AccountCommand {
    AccountCommand::Withdraw {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at,
    }
}

fn withdraw_in(minor_units: i64, currency: Currency) -> AccountCommand {
    AccountCommand::Withdraw {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at: now(),
    }
}

fn freeze() -> AccountCommand {
    AccountCommand::Freeze {
        reason: text("suspected fraud"),
        occurred_at: now(),
    }
}

fn unfreeze() -> AccountCommand {
    AccountCommand::Unfreeze { occurred_at: now() }
}

fn close() -> AccountCommand {
    AccountCommand::Close { occurred_at: now() }
}

fn every_command_but_open() -> Vec<AccountCommand> {
    vec![
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
    ]
}

/// Opened with the default [`terms`].
fn opened() -> AccountEvent {
    opened_with(0, None)
}

fn opened_with(overdraft_limit: i64, daily_withdrawal_limit: Option<i64>) -> AccountEvent {
    AccountEvent::AccountOpened {
        account_id: account_id(),
        owner_id: owner_id(),
        currency: eur(),
        overdraft_limit: limit(overdraft_limit),
        daily_withdrawal_limit: daily_withdrawal_limit.map(limit),
        occurred_at: now(),
    }
}

fn deposited(minor_units: i64) -> AccountEvent {
    AccountEvent::MoneyDeposited {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at: now(),
    }
}

fn withdrawn(minor_units: i64) -> AccountEvent {
    withdrawn_at(minor_units, now())
}

fn withdrawn_at(minor_units: i64, occurred_at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::MoneyWithdrawn {
        transaction_id: transaction_id(),
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at,
    }
}

fn frozen() -> AccountEvent {
    AccountEvent::AccountFrozen {
        reason: text("suspected fraud"),
        occurred_at: now(),
    }
}

fn unfrozen() -> AccountEvent {
    AccountEvent::AccountUnfrozen { occurred_at: now() }
}

fn closed() -> AccountEvent {
    AccountEvent::AccountClosed { occurred_at: now() }
}

/// `opening` followed by deposits adding up to `balance`. A single deposit is capped at 10^15
/// minor units, so a balance near `i64::MAX` takes about 9,200 of them.
fn history_with_balance(opening: AccountEvent, balance: i64) -> Vec<AccountEvent> {
    let full_deposits = balance / MAX_AMOUNT_MINOR_UNITS;
    let rest = balance % MAX_AMOUNT_MINOR_UNITS;
    let mut history = vec![opening];
    history.extend((0..full_deposits).map(|_| deposited(MAX_AMOUNT_MINOR_UNITS)));
    if rest > 0 {
        history.push(deposited(rest));
    }
    history
}

#[test]
fn opening_an_account_starts_it_active_at_a_zero_balance() {
    let state = given(&[]).when(open(terms())).then(&[opened()]);

    let account = account_in(&state);
    assert_eq!(account.id, account_id());
    assert_eq!(account.owner_id, owner_id());
    assert_eq!(account.balance, Money::zero(eur()));
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.opened_at, now());
}

#[test]
fn an_opening_deposit_is_recorded_as_a_separate_deposit_event() {
    let terms = OpenAccount {
        initial_deposit: Some((transaction_id(), amount(5_000))),
        ..terms()
    };

    let state = given(&[]).when(open(terms)).then(&[opened(), deposited(5_000)]);

    assert_eq!(balance_of(&state), 5_000);
}

#[test]
fn an_account_is_opened_with_its_overdraft_and_daily_withdrawal_limits() {
    let terms = OpenAccount {
        overdraft_limit: limit(10_000),
        daily_withdrawal_limit: Some(limit(50_000)),
        ..terms()
    };

    let state = given(&[])
        .when(open(terms))
        .then(&[opened_with(10_000, Some(50_000))]);

    let account = account_in(&state);
    assert_eq!(account.overdraft_limit, limit(10_000));
    assert_eq!(account.daily_withdrawal_limit, Some(limit(50_000)));
}

#[test]
fn opening_an_account_twice_is_rejected() {
    given(&[opened()])
        .when(open(terms()))
        .then_error(AccountError::AlreadyOpened);
}

#[test]
fn a_closed_account_cannot_be_opened_again() {
    given(&[opened(), closed()])
        .when(open(terms()))
        .then_error(AccountError::AlreadyOpened);
}

#[test]
fn an_account_that_was_never_opened_refuses_every_command_but_open() {
    for command in every_command_but_open() {
        given(&[]).when(command).then_error(AccountError::NotOpened);
    }
}

#[test]
fn depositing_adds_to_the_balance() {
    let state = given(&[opened(), deposited(1_000)])
        .when(deposit(250))
        .then(&[deposited(250)]);

    assert_eq!(balance_of(&state), 1_250);
}

#[test]
fn a_deposit_records_its_transaction_id_and_description() {
    let command = AccountCommand::Deposit {
        transaction_id: TransactionId(Uuid::from_u128(42)),
        amount: amount(1_250),
        currency: eur(),
        description: Some(text("rent for March")),
        occurred_at: now(),
    };

    given(&[opened()])
        .when(command)
        .then(&[AccountEvent::MoneyDeposited {
            transaction_id: TransactionId(Uuid::from_u128(42)),
            amount: amount(1_250),
            currency: eur(),
            description: Some(text("rent for March")),
            occurred_at: now(),
        }]);
}

#[test]
fn depositing_in_another_currency_is_rejected() {
    given(&[opened()])
        .when(deposit_in(100, usd()))
        .then_error(AccountError::CurrencyMismatch {
            account: eur(),
            requested: usd(),
        });
}

#[test]
fn a_deposit_that_would_overflow_the_balance_is_rejected() {
    let history = history_with_balance(opened(), i64::MAX - 1);

    given(&history)
        .when(deposit(2))
        .then_error(AccountError::Overflow);
}

#[test]
fn a_deposit_may_bring_the_balance_to_exactly_i64_max() {
    let history = history_with_balance(opened(), i64::MAX - 1);

    let state = given(&history).when(deposit(1)).then(&[deposited(1)]);

    assert_eq!(balance_of(&state), i64::MAX);
}

#[test]
fn withdrawing_subtracts_from_the_balance() {
    let state = given(&[opened(), deposited(1_000)])
        .when(withdraw(300))
        .then(&[withdrawn(300)]);

    assert_eq!(balance_of(&state), 700);
}

#[test]
fn withdrawing_the_whole_balance_is_accepted() {
    let state = given(&[opened(), deposited(1_000)])
        .when(withdraw(1_000))
        .then(&[withdrawn(1_000)]);

    assert_eq!(balance_of(&state), 0);
}

#[test]
fn withdrawing_in_another_currency_is_rejected() {
    given(&[opened(), deposited(1_000)])
        .when(withdraw_in(100, usd()))
        .then_error(AccountError::CurrencyMismatch {
            account: eur(),
            requested: usd(),
        });
}

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
fn a_frozen_account_still_accepts_deposits() {
    let state = given(&[opened(), frozen()])
        .when(deposit(500))
        .then(&[deposited(500)]);

    assert_eq!(balance_of(&state), 500);
}

#[test]
fn withdrawing_from_a_frozen_account_is_rejected() {
    given(&[opened(), deposited(1_000), frozen()])
        .when(withdraw(100))
        .then_error(AccountError::AccountFrozen);
}

#[test]
fn freezing_an_account_records_the_reason() {
    let state = given(&[opened()]).when(freeze()).then(&[frozen()]);

    assert_eq!(
        account_in(&state).status,
        AccountStatus::Frozen {
            reason: text("suspected fraud")
        }
    );
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
fn without_a_daily_limit_withdrawals_in_one_day_are_unlimited() {
    let history = history_with_balance(opened(), 3 * MAX_AMOUNT_MINOR_UNITS);
    let largest = MAX_AMOUNT_MINOR_UNITS;

    let state = given(&[history, vec![withdrawn(largest), withdrawn(largest)]].concat())
        .when(withdraw(largest))
        .then(&[withdrawn(largest)]);

    assert_eq!(balance_of(&state), 0);
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

// Transfers and reversals.

/// The other side of the transfers in the examples.
fn other_account() -> AccountId {
    AccountId(Uuid::from_u128(0xD))
}

/// The transfer this account sends in the examples.
fn outgoing_transfer_id() -> TransferId {
    TransferId(Uuid::from_u128(0xE))
}

/// The transfer this account receives in the examples.
fn incoming_transfer_id() -> TransferId {
    TransferId(Uuid::from_u128(0xE1))
}

/// A movement id of its own, for the examples whose rule looks movements up by id.
fn tx(n: u128) -> TransactionId {
    TransactionId(Uuid::from_u128(0x100 + n))
}

/// The id of the reversing movement in the examples.
fn reversal_id() -> TransactionId {
    TransactionId(Uuid::from_u128(0xF))
}

/// Why the destination refused, in the refund examples.
const REFUND_REASON: &str = "destination-not-found";

fn debit_transfer(minor_units: i64) -> AccountCommand {
    debit_transfer_with(other_account(), minor_units, eur(), now())
}

fn debit_transfer_with(
    to_account: AccountId,
    minor_units: i64,
    currency: Currency,
    occurred_at: DateTime<Utc>,
) -> AccountCommand {
    AccountCommand::DebitTransfer {
        transfer_id: outgoing_transfer_id(),
        transaction_id: transaction_id(),
        to_account,
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at,
    }
}

fn transfer_debited(minor_units: i64) -> AccountEvent {
    transfer_debited_as(transaction_id(), minor_units, now())
}

fn transfer_debited_as(
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

fn credit_transfer(minor_units: i64) -> AccountCommand {
    credit_transfer_in(minor_units, eur())
}

fn credit_transfer_in(minor_units: i64, currency: Currency) -> AccountCommand {
    AccountCommand::CreditTransfer {
        transfer_id: incoming_transfer_id(),
        transaction_id: transaction_id(),
        from_account: other_account(),
        amount: amount(minor_units),
        currency,
        description: None,
        occurred_at: now(),
    }
}

fn transfer_credited(minor_units: i64) -> AccountEvent {
    transfer_credited_as(transaction_id(), minor_units)
}

fn transfer_credited_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
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

fn complete_transfer() -> AccountCommand {
    AccountCommand::CompleteTransfer {
        transfer_id: outgoing_transfer_id(),
        occurred_at: now(),
    }
}

fn transfer_completed() -> AccountEvent {
    AccountEvent::TransferCompleted {
        transfer_id: outgoing_transfer_id(),
        occurred_at: now(),
    }
}

fn refund_transfer() -> AccountCommand {
    AccountCommand::RefundTransfer {
        transfer_id: outgoing_transfer_id(),
        transaction_id: transaction_id(),
        reason: REFUND_REASON.to_owned(),
        occurred_at: now(),
    }
}

fn transfer_refunded(minor_units: i64) -> AccountEvent {
    transfer_refunded_as(transaction_id(), minor_units)
}

fn transfer_refunded_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
    AccountEvent::TransferRefunded {
        transfer_id: outgoing_transfer_id(),
        transaction_id,
        to_account: other_account(),
        amount: amount(minor_units),
        currency: eur(),
        reason: REFUND_REASON.to_owned(),
        occurred_at: now(),
    }
}

fn deposited_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
    AccountEvent::MoneyDeposited {
        transaction_id,
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at: now(),
    }
}

fn withdrawn_as(transaction_id: TransactionId, minor_units: i64) -> AccountEvent {
    AccountEvent::MoneyWithdrawn {
        transaction_id,
        amount: amount(minor_units),
        currency: eur(),
        description: None,
        occurred_at: now(),
    }
}

fn reverse(original: TransactionId) -> AccountCommand {
    reverse_at(original, now())
}

fn reverse_at(original: TransactionId, occurred_at: DateTime<Utc>) -> AccountCommand {
    AccountCommand::Reverse {
        reversal_id: reversal_id(),
        transaction_id: original,
        occurred_at,
    }
}

fn reversed(original: TransactionId, signed_amount: i64) -> AccountEvent {
    reversed_at(original, signed_amount, now())
}

fn reversed_at(original: TransactionId, signed_amount: i64, occurred_at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::TransactionReversed {
        reversal_id: reversal_id(),
        transaction_id: original,
        signed_amount,
        currency: eur(),
        occurred_at,
    }
}

#[track_caller]
fn outgoing_transfer(state: &AccountState) -> Option<OutgoingTransfer> {
    account_in(state)
        .transfers_out
        .get(&outgoing_transfer_id())
        .copied()
}

#[track_caller]
fn movement(state: &AccountState, transaction_id: TransactionId) -> Option<Movement> {
    account_in(state).movements.get(&transaction_id).copied()
}

#[test]
fn a_transfer_id_credited_from_one_source_is_refused_from_another() {
    let from_elsewhere = match credit_transfer(300) {
        AccountCommand::CreditTransfer {
            transfer_id,
            transaction_id,
            amount,
            currency,
            description,
            occurred_at,
            ..
        } => AccountCommand::CreditTransfer {
            transfer_id,
            transaction_id,
            from_account: AccountId(Uuid::from_u128(0xE15E)),
            amount,
            currency,
            description,
            occurred_at,
        },
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
        })
    );
    assert!(account_in(&state).has_pending_transfers());
}

#[test]
fn a_transfer_out_repeated_with_the_same_destination_and_amount_emits_nothing() {
    let retry = AccountCommand::DebitTransfer {
        transfer_id: outgoing_transfer_id(),
        transaction_id: tx(1),
        to_account: other_account(),
        amount: amount(300),
        currency: eur(),
        description: Some(text("a client retry")),
        occurred_at: now() + Duration::minutes(1),
    };

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
fn an_incoming_transfer_that_would_overflow_the_balance_is_rejected() {
    let history = history_with_balance(opened(), i64::MAX - 1);

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

/// Bug: `RefundTransfer` never checks that the refund fits in the balance, and `evolve`
/// saturates, so the refunded amount silently disappears and the balance is no longer the sum
/// of the events. Reachable: deposits may refill the balance up to `i64::MAX` while the
/// transfer is pending.
#[test]
fn a_refund_that_would_overflow_the_balance_is_rejected() {
    let mut history = history_with_balance(opened(), i64::MAX);
    history.splice(1..1, [deposited(1_000), transfer_debited(1_000)]);

    given(&history)
        .when(refund_transfer())
        .then_error(AccountError::Overflow);
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
fn a_deposit_can_be_reversed_until_the_last_minute_of_its_30_day_window() {
    let last_minute = now() + Duration::days(29) + Duration::hours(23) + Duration::minutes(59);

    let state = given(&[opened(), deposited_as(tx(1), 1_000), deposited_as(tx(2), 500)])
        .when(reverse_at(tx(1), last_minute))
        .then(&[reversed_at(tx(1), -1_000, last_minute)]);

    assert_eq!(balance_of(&state), 500);
    assert_eq!(
        movement(&state, tx(1)).map(|original| original.reversed),
        Some(true)
    );
    assert_eq!(
        movement(&state, reversal_id()),
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
    .when(AccountCommand::Reverse {
        reversal_id: tx(3),
        transaction_id: tx(2),
        occurred_at: now(),
    })
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
        .when(AccountCommand::Reverse {
            reversal_id: tx(2),
            transaction_id: reversal_id(),
            occurred_at: now(),
        })
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

/// One random step after the opening.
///
/// A `foreign` move is in the currency the account is not in. Moves that refer back (`pick`) choose among the ids earlier commands used, whether those
/// commands were accepted or not, so settlements and reversals hit real transfers and movements
/// as well as ones the account never recorded. `None` refers to an id no command ever used.
#[derive(Debug, Clone)]
enum Move {
    Deposit {
        amount: i64,
        foreign: bool,
        described: bool,
    },
    Withdraw {
        amount: i64,
        foreign: bool,
    },
    TransferOut {
        amount: i64,
        foreign: bool,
        to_self: bool,
        id: TransferIdPick,
    },
    TransferIn {
        amount: i64,
        foreign: bool,
        /// Replays an earlier incoming transfer, with the same terms.
        repeat: Option<Index>,
    },
    Complete {
        pick: Option<Index>,
    },
    Refund {
        pick: Option<Index>,
    },
    Reverse {
        pick: Option<Index>,
    },
    Freeze,
    Unfreeze,
    Close,
}

/// Which transfer id a transfer out uses.
#[derive(Debug, Clone)]
enum TransferIdPick {
    New,
    /// An earlier transfer out again, with the same destination, amount and currency.
    Retry(Index),
    /// An earlier transfer's id with this move's own destination, amount and currency.
    Reuse(Index),
}

/// An opening followed by moves, each some time after the one before.
#[derive(Debug, Clone)]
struct Scenario {
    terms: OpenAccount,
    moves: Vec<(Duration, Move)>,
}

/// One decided command: the state it met, what `decide` said, and the state after.
#[derive(Debug)]
struct Step {
    before: AccountState,
    command: AccountCommand,
    outcome: Result<Vec<AccountEvent>, AccountError>,
    after: AccountState,
}

impl Step {
    fn events(&self) -> &[AccountEvent] {
        self.outcome.as_deref().unwrap_or_default()
    }
}

fn any_currency() -> impl Strategy<Value = Currency> {
    prop_oneof![Just(eur()), Just(usd())]
}

/// Whether a move is in a currency the account is not in: now and then.
fn any_foreign() -> impl Strategy<Value = bool> {
    proptest::bool::weighted(0.1)
}

fn any_terms() -> impl Strategy<Value = OpenAccount> {
    (
        any_currency(),
        0..=1_000_i64,
        proptest::option::of(1..=10_000_i64),
        proptest::option::of(1..=5_000_i64),
    )
        .prop_map(
            |(currency, overdraft, daily_limit, initial_deposit)| OpenAccount {
                currency,
                overdraft_limit: limit(overdraft),
                daily_withdrawal_limit: daily_limit.map(limit),
                initial_deposit: initial_deposit.map(|minor_units| (transaction_id(), amount(minor_units))),
                ..terms()
            },
        )
}

/// Mostly an earlier id, sometimes one nobody used.
fn any_pick() -> impl Strategy<Value = Option<Index>> {
    proptest::option::weighted(0.9, any::<Index>())
}

fn any_transfer_id_pick() -> impl Strategy<Value = TransferIdPick> {
    prop_oneof![
        6 => Just(TransferIdPick::New),
        2 => any::<Index>().prop_map(TransferIdPick::Retry),
        1 => any::<Index>().prop_map(TransferIdPick::Reuse),
    ]
}

fn any_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        4 => (1..=5_000_i64, any_foreign(), any::<bool>()).prop_map(
            |(amount, foreign, described)| Move::Deposit { amount, foreign, described }
        ),
        3 => (1..=5_000_i64, any_foreign())
            .prop_map(|(amount, foreign)| Move::Withdraw { amount, foreign }),
        3 => (1..=5_000_i64, any_foreign(), proptest::bool::weighted(0.05), any_transfer_id_pick())
            .prop_map(|(amount, foreign, to_self, id)| Move::TransferOut { amount, foreign, to_self, id }),
        2 => (1..=5_000_i64, any_foreign(), proptest::option::weighted(0.3, any::<Index>()))
            .prop_map(|(amount, foreign, repeat)| Move::TransferIn { amount, foreign, repeat }),
        2 => any_pick().prop_map(|pick| Move::Complete { pick }),
        2 => any_pick().prop_map(|pick| Move::Refund { pick }),
        3 => any_pick().prop_map(|pick| Move::Reverse { pick }),
        1 => Just(Move::Freeze),
        2 => Just(Move::Unfreeze),
        1 => Just(Move::Close),
    ]
}

/// Up to 48 hours between moves, now and then up to 20 days; almost half the pauses are under
/// an hour, so that several withdrawals often share a UTC day and the daily limit is actually
/// tested, while the long ones carry reversals past the end of their 30-day window.
fn any_pause() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => 0..=3_600_i64,
        4 => 0..=48 * 3_600_i64,
        1 => 0..=20 * 24 * 3_600_i64,
    ]
    .prop_map(Duration::seconds)
}

fn any_scenario() -> impl Strategy<Value = Scenario> {
    (
        any_terms(),
        proptest::collection::vec((any_pause(), any_move()), 0..60),
    )
        .prop_map(|(terms, moves)| Scenario { terms, moves })
}

/// The terms of a transfer command, so that a later move can send it again.
#[derive(Debug, Clone, Copy)]
struct TransferTerms {
    transfer_id: TransferId,
    counterpart: AccountId,
    amount: Amount,
    currency: Currency,
}

/// Turns moves into commands, remembering the ids earlier commands used.
#[derive(Debug)]
struct Script {
    currency: Currency,
    foreign_currency: Currency,
    transfers_out: Vec<TransferTerms>,
    transfers_in: Vec<TransferTerms>,
    transactions: Vec<TransactionId>,
}

/// An id no command of a scenario uses.
fn unknown_transfer_id() -> TransferId {
    TransferId(Uuid::from_u128(0xBAD))
}

fn unknown_transaction_id() -> TransactionId {
    TransactionId(Uuid::from_u128(0xBAD))
}

fn picked<T: Copy>(earlier: &[T], pick: Option<&Index>) -> Option<T> {
    match pick {
        Some(index) if !earlier.is_empty() => Some(*index.get(earlier)),
        _ => None,
    }
}

impl Script {
    fn new(terms: &OpenAccount) -> Script {
        Script {
            currency: terms.currency,
            foreign_currency: if terms.currency == eur() { usd() } else { eur() },
            transfers_out: Vec::new(),
            transfers_in: Vec::new(),
            transactions: terms.initial_deposit.iter().map(|(id, _)| *id).collect(),
        }
    }

    fn currency(&self, foreign: bool) -> Currency {
        if foreign {
            self.foreign_currency
        } else {
            self.currency
        }
    }

    fn transfer_out(&self, pick: Option<&Index>) -> TransferId {
        picked(&self.transfers_out, pick).map_or_else(unknown_transfer_id, |sent| sent.transfer_id)
    }

    fn command(&mut self, step: usize, a_move: &Move, occurred_at: DateTime<Utc>) -> AccountCommand {
        // Ids of their own, far from the fixed ids of the examples (the opening deposit's).
        let transaction_id = TransactionId(Uuid::from_u128(0x1_0000 + step as u128));
        let new_transfer_id = TransferId(Uuid::from_u128(0x2_0000 + step as u128));
        let command = match a_move {
            Move::Deposit {
                amount: minor_units,
                foreign,
                described,
            } => AccountCommand::Deposit {
                transaction_id,
                amount: amount(*minor_units),
                currency: self.currency(*foreign),
                description: described.then(|| text("salary")),
                occurred_at,
            },
            Move::Withdraw {
                amount: minor_units,
                foreign,
            } => AccountCommand::Withdraw {
                transaction_id,
                amount: amount(*minor_units),
                currency: self.currency(*foreign),
                description: None,
                occurred_at,
            },
            Move::TransferOut {
                amount: minor_units,
                foreign,
                to_self,
                id,
            } => {
                let own = TransferTerms {
                    transfer_id: new_transfer_id,
                    counterpart: if *to_self { account_id() } else { other_account() },
                    amount: amount(*minor_units),
                    currency: self.currency(*foreign),
                };
                let terms = match id {
                    TransferIdPick::New => own,
                    TransferIdPick::Retry(index) => picked(&self.transfers_out, Some(index)).unwrap_or(own),
                    TransferIdPick::Reuse(index) => TransferTerms {
                        transfer_id: self.transfer_out(Some(index)),
                        ..own
                    },
                };
                self.transfers_out.push(terms);
                AccountCommand::DebitTransfer {
                    transfer_id: terms.transfer_id,
                    transaction_id,
                    to_account: terms.counterpart,
                    amount: terms.amount,
                    currency: terms.currency,
                    description: None,
                    occurred_at,
                }
            }
            Move::TransferIn {
                amount: minor_units,
                foreign,
                repeat,
            } => {
                let terms = picked(&self.transfers_in, repeat.as_ref()).unwrap_or(TransferTerms {
                    transfer_id: new_transfer_id,
                    counterpart: other_account(),
                    amount: amount(*minor_units),
                    currency: self.currency(*foreign),
                });
                self.transfers_in.push(terms);
                AccountCommand::CreditTransfer {
                    transfer_id: terms.transfer_id,
                    transaction_id,
                    from_account: terms.counterpart,
                    amount: terms.amount,
                    currency: terms.currency,
                    description: Some(text("rent share")),
                    occurred_at,
                }
            }
            Move::Complete { pick } => AccountCommand::CompleteTransfer {
                transfer_id: self.transfer_out(pick.as_ref()),
                occurred_at,
            },
            Move::Refund { pick } => AccountCommand::RefundTransfer {
                transfer_id: self.transfer_out(pick.as_ref()),
                transaction_id,
                reason: "destination-closed".to_owned(),
                occurred_at,
            },
            Move::Reverse { pick } => AccountCommand::Reverse {
                reversal_id: transaction_id,
                transaction_id: picked(&self.transactions, pick.as_ref())
                    .unwrap_or_else(unknown_transaction_id),
                occurred_at,
            },
            Move::Freeze => AccountCommand::Freeze {
                reason: text("suspected fraud"),
                occurred_at,
            },
            Move::Unfreeze => AccountCommand::Unfreeze { occurred_at },
            Move::Close => AccountCommand::Close { occurred_at },
        };
        if !matches!(
            command,
            AccountCommand::Freeze { .. }
                | AccountCommand::Unfreeze { .. }
                | AccountCommand::Close { .. }
                | AccountCommand::CompleteTransfer { .. }
        ) {
            self.transactions.push(transaction_id);
        }
        command
    }
}

/// Decides the opening and every move in turn, evolving the state by whatever was accepted.
fn play(scenario: &Scenario) -> Vec<Step> {
    let mut script = Script::new(&scenario.terms);
    let mut commands = vec![open(scenario.terms.clone())];
    let mut occurred_at = scenario.terms.occurred_at;
    for (step, (pause, a_move)) in scenario.moves.iter().enumerate() {
        occurred_at += *pause;
        commands.push(script.command(step + 1, a_move, occurred_at));
    }

    let mut state = AccountDecider::initial_state();
    let mut steps = Vec::with_capacity(commands.len());
    for command in commands {
        let outcome = AccountDecider::decide(&state, command.clone());
        let before = state.clone();
        let events = outcome.as_deref().unwrap_or_default();
        state = events.iter().fold(state, AccountDecider::evolve);
        steps.push(Step {
            before,
            command,
            outcome,
            after: state.clone(),
        });
    }
    steps
}

/// Every event the accepted commands recorded, in order: the account's stream.
fn stream(steps: &[Step]) -> Vec<AccountEvent> {
    steps.iter().flat_map(|step| step.events().to_vec()).collect()
}

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
        } => Some(AccountCommand::CreditTransfer {
            transfer_id: *transfer_id,
            transaction_id,
            from_account: *from_account,
            amount: *amount,
            currency: *currency,
            description: description.clone(),
            occurred_at: *occurred_at,
        }),
        AccountEvent::TransferRefunded {
            transfer_id,
            reason,
            occurred_at,
            ..
        } => Some(AccountCommand::RefundTransfer {
            transfer_id: *transfer_id,
            transaction_id,
            reason: reason.clone(),
            occurred_at: *occurred_at,
        }),
        _ => None,
    }
}

/// What the model expects of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Breaks a rule: an error.
    Refused,
    /// Was done before: accepted with no events.
    AlreadyDone,
    /// One event, moving the balance by `balance_change`.
    Accepted { balance_change: i64 },
}

/// A transfer out, as the model remembers it.
#[derive(Debug)]
struct Sent {
    to_account: AccountId,
    amount: i64,
    status: TransferStatus,
}

/// A movement, as the model remembers it.
#[derive(Debug)]
struct Moved {
    kind: MovementKind,
    amount: i64,
    occurred_at: DateTime<Utc>,
    reversed: bool,
}

/// The rules restated as plainly as possible, to check `decide` against. Withdrawals are kept
/// per day for the whole history rather than for the latest day only, as `Account` does.
#[derive(Debug)]
struct Model {
    id: AccountId,
    currency: Currency,
    overdraft_limit: i64,
    daily_limit: Option<i64>,
    balance: i64,
    frozen: bool,
    closed: bool,
    /// Money that left at the owner's request (withdrawals and transfers out), per UTC day.
    /// Neither refunds nor reversals give any of it back.
    withdrawn_per_day: BTreeMap<NaiveDate, i64>,
    sent: BTreeMap<TransferId, Sent>,
    received: BTreeSet<TransferId>,
    movements: BTreeMap<TransactionId, Moved>,
}

impl Model {
    fn opened(terms: &OpenAccount) -> Model {
        let mut model = Model {
            id: terms.account_id,
            currency: terms.currency,
            overdraft_limit: terms.overdraft_limit.minor_units(),
            daily_limit: terms.daily_withdrawal_limit.map(Limit::minor_units),
            balance: 0,
            frozen: false,
            closed: false,
            withdrawn_per_day: BTreeMap::new(),
            sent: BTreeMap::new(),
            received: BTreeSet::new(),
            movements: BTreeMap::new(),
        };
        if let Some((transaction_id, amount)) = terms.initial_deposit {
            model.balance = amount.minor_units();
            model.record(
                transaction_id,
                MovementKind::Deposit,
                amount.minor_units(),
                terms.occurred_at,
            );
        }
        model
    }

    fn withdrawn_on(&self, day: NaiveDate) -> i64 {
        self.withdrawn_per_day.get(&day).copied().unwrap_or(0)
    }

    /// Whether `amount` may leave now at the owner's request: not frozen, the overdraft floor
    /// and the daily limit respected.
    fn may_pay_out(&self, amount: i64, at: DateTime<Utc>) -> bool {
        let withdrawn_today = self.withdrawn_on(at.date_naive());
        !self.frozen
            && self.balance - amount >= -self.overdraft_limit
            && self
                .daily_limit
                .is_none_or(|limit| withdrawn_today + amount <= limit)
    }

    fn has_pending(&self) -> bool {
        self.sent
            .values()
            .any(|sent| sent.status == TransferStatus::Pending)
    }

    /// Decides `command` by the rules and, when it is accepted, applies it.
    fn handle(&mut self, command: &AccountCommand) -> Verdict {
        let verdict = self.judge(command);
        if let Verdict::Accepted { balance_change } = verdict {
            self.balance += balance_change;
            self.apply(command);
        }
        verdict
    }

    fn judge(&self, command: &AccountCommand) -> Verdict {
        let accept_if = |allowed: bool, balance_change: i64| {
            if allowed {
                Verdict::Accepted { balance_change }
            } else {
                Verdict::Refused
            }
        };
        // A repeated transfer step is answered before any rule, closed account or not.
        let sent_status = |transfer_id| self.sent.get(transfer_id).map(|sent: &Sent| sent.status);
        let repeat = match command {
            AccountCommand::DebitTransfer {
                transfer_id,
                to_account,
                amount,
                ..
            } => self
                .sent
                .get(transfer_id)
                .is_some_and(|sent| sent.to_account == *to_account && sent.amount == amount.minor_units()),
            AccountCommand::CreditTransfer { transfer_id, .. } => self.received.contains(transfer_id),
            AccountCommand::CompleteTransfer { transfer_id, .. } => {
                sent_status(transfer_id) == Some(TransferStatus::Completed)
            }
            AccountCommand::RefundTransfer { transfer_id, .. } => {
                sent_status(transfer_id) == Some(TransferStatus::Refunded)
            }
            _ => false,
        };
        if repeat {
            return Verdict::AlreadyDone;
        }
        if self.closed {
            return Verdict::Refused;
        }
        match command {
            AccountCommand::Open(_) => Verdict::Refused,
            AccountCommand::Deposit { amount, currency, .. } => {
                accept_if(*currency == self.currency, amount.minor_units())
            }
            AccountCommand::Withdraw {
                amount,
                currency,
                occurred_at,
                ..
            } => {
                let amount = amount.minor_units();
                accept_if(
                    *currency == self.currency && self.may_pay_out(amount, *occurred_at),
                    -amount,
                )
            }
            AccountCommand::Freeze { .. } => accept_if(!self.frozen, 0),
            AccountCommand::Unfreeze { .. } => accept_if(self.frozen, 0),
            AccountCommand::Close { .. } => {
                accept_if(!self.frozen && self.balance == 0 && !self.has_pending(), 0)
            }
            AccountCommand::DebitTransfer {
                transfer_id,
                to_account,
                amount,
                currency,
                occurred_at,
                ..
            } => {
                let amount = amount.minor_units();
                match self.sent.get(transfer_id) {
                    Some(sent) if sent.to_account == *to_account && sent.amount == amount => {
                        Verdict::AlreadyDone
                    }
                    Some(_) => Verdict::Refused,
                    None => accept_if(
                        *to_account != self.id
                            && *currency == self.currency
                            && self.may_pay_out(amount, *occurred_at),
                        -amount,
                    ),
                }
            }
            AccountCommand::CreditTransfer {
                transfer_id,
                amount,
                currency,
                ..
            } => {
                if self.received.contains(transfer_id) {
                    Verdict::AlreadyDone
                } else {
                    accept_if(*currency == self.currency, amount.minor_units())
                }
            }
            AccountCommand::CompleteTransfer { transfer_id, .. } => {
                match self.sent.get(transfer_id).map(|sent| sent.status) {
                    Some(TransferStatus::Pending) => Verdict::Accepted { balance_change: 0 },
                    Some(TransferStatus::Completed) => Verdict::AlreadyDone,
                    Some(TransferStatus::Refunded) | None => Verdict::Refused,
                }
            }
            AccountCommand::RefundTransfer { transfer_id, .. } => match self.sent.get(transfer_id) {
                Some(sent) if sent.status == TransferStatus::Pending => Verdict::Accepted {
                    balance_change: sent.amount,
                },
                Some(sent) if sent.status == TransferStatus::Refunded => Verdict::AlreadyDone,
                _ => Verdict::Refused,
            },
            AccountCommand::Reverse {
                transaction_id,
                occurred_at,
                ..
            } => {
                let Some(original) = self.movements.get(transaction_id) else {
                    return Verdict::Refused;
                };
                if original.reversed || *occurred_at > original.occurred_at + Duration::days(30) {
                    return Verdict::Refused;
                }
                match original.kind {
                    MovementKind::Deposit => accept_if(
                        !self.frozen && self.balance - original.amount >= -self.overdraft_limit,
                        -original.amount,
                    ),
                    MovementKind::Withdrawal => Verdict::Accepted {
                        balance_change: original.amount,
                    },
                    MovementKind::TransferLeg | MovementKind::Reversal => Verdict::Refused,
                }
            }
        }
    }

    fn record(&mut self, id: TransactionId, kind: MovementKind, amount: i64, occurred_at: DateTime<Utc>) {
        let moved = Moved {
            kind,
            amount,
            occurred_at,
            reversed: false,
        };
        self.movements.insert(id, moved);
    }

    fn count_toward_daily_limit(&mut self, amount: i64, at: DateTime<Utc>) {
        *self.withdrawn_per_day.entry(at.date_naive()).or_default() += amount;
    }

    /// The bookkeeping of an accepted command; the balance is already updated.
    fn apply(&mut self, command: &AccountCommand) {
        match command {
            AccountCommand::Open(_) => {}
            AccountCommand::Deposit {
                transaction_id,
                amount,
                occurred_at,
                ..
            } => self.record(
                *transaction_id,
                MovementKind::Deposit,
                amount.minor_units(),
                *occurred_at,
            ),
            AccountCommand::Withdraw {
                transaction_id,
                amount,
                occurred_at,
                ..
            } => {
                self.record(
                    *transaction_id,
                    MovementKind::Withdrawal,
                    amount.minor_units(),
                    *occurred_at,
                );
                self.count_toward_daily_limit(amount.minor_units(), *occurred_at);
            }
            AccountCommand::Freeze { .. } => self.frozen = true,
            AccountCommand::Unfreeze { .. } => self.frozen = false,
            AccountCommand::Close { .. } => self.closed = true,
            AccountCommand::DebitTransfer {
                transfer_id,
                transaction_id,
                to_account,
                amount,
                occurred_at,
                ..
            } => {
                self.record(
                    *transaction_id,
                    MovementKind::TransferLeg,
                    amount.minor_units(),
                    *occurred_at,
                );
                self.count_toward_daily_limit(amount.minor_units(), *occurred_at);
                let sent = Sent {
                    to_account: *to_account,
                    amount: amount.minor_units(),
                    status: TransferStatus::Pending,
                };
                self.sent.insert(*transfer_id, sent);
            }
            AccountCommand::CreditTransfer {
                transfer_id,
                transaction_id,
                amount,
                occurred_at,
                ..
            } => {
                self.record(
                    *transaction_id,
                    MovementKind::TransferLeg,
                    amount.minor_units(),
                    *occurred_at,
                );
                self.received.insert(*transfer_id);
            }
            AccountCommand::CompleteTransfer { transfer_id, .. } => {
                if let Some(sent) = self.sent.get_mut(transfer_id) {
                    sent.status = TransferStatus::Completed;
                }
            }
            AccountCommand::RefundTransfer {
                transfer_id,
                transaction_id,
                occurred_at,
                ..
            } => {
                let mut refunded = 0;
                if let Some(sent) = self.sent.get_mut(transfer_id) {
                    sent.status = TransferStatus::Refunded;
                    refunded = sent.amount;
                }
                self.record(*transaction_id, MovementKind::TransferLeg, refunded, *occurred_at);
            }
            AccountCommand::Reverse {
                reversal_id,
                transaction_id,
                occurred_at,
            } => {
                let mut reversed = 0;
                if let Some(original) = self.movements.get_mut(transaction_id) {
                    original.reversed = true;
                    reversed = original.amount;
                }
                self.record(*reversal_id, MovementKind::Reversal, reversed, *occurred_at);
            }
        }
    }
}

proptest! {
    #[test]
    fn the_balance_never_falls_below_minus_the_overdraft_limit(scenario in any_scenario()) {
        for step in play(&scenario) {
            let account = account_in(&step.after);
            prop_assert!(
                account.balance.minor_units >= -account.overdraft_limit.minor_units(),
                "{:?} left the balance at {}",
                step.command,
                account.balance.minor_units,
            );
        }
    }

    #[test]
    fn the_balance_is_the_sum_of_the_balance_changes_of_the_events(scenario in any_scenario()) {
        let mut sum = 0_i64;
        for step in play(&scenario) {
            sum += step.events().iter().map(AccountEvent::balance_change).sum::<i64>();
            prop_assert_eq!(balance_of(&step.after), sum, "after {:?}", step.command);
        }
    }

    #[test]
    fn withdrawals_and_transfers_out_on_one_utc_day_never_exceed_the_daily_limit(
        scenario in any_scenario(),
    ) {
        let Some(daily_limit) = scenario.terms.daily_withdrawal_limit else {
            return Ok(());
        };
        let mut paid_out_per_day = BTreeMap::<NaiveDate, i64>::new();
        for event in stream(&play(&scenario)) {
            if let AccountEvent::MoneyWithdrawn { amount, occurred_at, .. }
            | AccountEvent::TransferDebited { amount, occurred_at, .. } = event
            {
                *paid_out_per_day.entry(occurred_at.date_naive()).or_default() += amount.minor_units();
            }
        }
        for (day, total) in paid_out_per_day {
            prop_assert!(total <= daily_limit.minor_units(), "{total} paid out on {day}");
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
                (Verdict::Accepted { balance_change }, Ok(events)) => {
                    matches!(events.as_slice(), [event] if event.balance_change() == balance_change)
                }
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
    fn replaying_the_stream_rebuilds_the_state(scenario in any_scenario()) {
        let steps = play(&scenario);
        let mut recorded = Vec::new();
        for step in &steps {
            recorded.extend_from_slice(step.events());
            prop_assert_eq!(&AccountDecider::fold(&recorded), &step.after);
        }
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
