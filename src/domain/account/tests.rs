//! The account's business rules as executable examples.
//!
//! Each example reads given (the events recorded so far) / when (a command) / then (the events the
//! command causes, or the typed error that refuses it). The property tests at the end drive random
//! command sequences through `decide` and `evolve` and check what must hold whatever clients send:
//! the overdraft floor, the daily limit, balance as the sum of movements, replay, and the stored
//! JSON form of every event.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::domain::Decider;
use crate::domain::ids::{AccountId, OwnerId, TransactionId};
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

/// One id for every movement in the examples: `decide` carries ids into the events unchanged and
/// never compares them (duplicate detection belongs to the command layer).
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
    vec![deposit(100), withdraw(100), freeze(), unfreeze(), close()]
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

/// One random step after the opening.
#[derive(Debug, Clone)]
enum Move {
    Deposit {
        amount: i64,
        currency: Currency,
        described: bool,
    },
    Withdraw {
        amount: i64,
        currency: Currency,
    },
    Freeze,
    Unfreeze,
    Close,
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

fn any_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        4 => (1..=5_000_i64, any_currency(), any::<bool>()).prop_map(
            |(amount, currency, described)| Move::Deposit { amount, currency, described }
        ),
        4 => (1..=5_000_i64, any_currency())
            .prop_map(|(amount, currency)| Move::Withdraw { amount, currency }),
        1 => Just(Move::Freeze),
        1 => Just(Move::Unfreeze),
        1 => Just(Move::Close),
    ]
}

/// Up to 48 hours between moves; half the pauses are under an hour, so that several
/// withdrawals often share a UTC day and the daily limit is actually tested.
fn any_pause() -> impl Strategy<Value = Duration> {
    prop_oneof![0..=3_600_i64, 0..=48 * 3_600_i64].prop_map(Duration::seconds)
}

fn any_scenario() -> impl Strategy<Value = Scenario> {
    (
        any_terms(),
        proptest::collection::vec((any_pause(), any_move()), 0..60),
    )
        .prop_map(|(terms, moves)| Scenario { terms, moves })
}

fn command_for(step: usize, a_move: &Move, occurred_at: DateTime<Utc>) -> AccountCommand {
    let transaction_id = TransactionId(Uuid::from_u128(step as u128));
    match *a_move {
        Move::Deposit {
            amount: minor_units,
            currency,
            described,
        } => AccountCommand::Deposit {
            transaction_id,
            amount: amount(minor_units),
            currency,
            description: described.then(|| text("salary")),
            occurred_at,
        },
        Move::Withdraw {
            amount: minor_units,
            currency,
        } => AccountCommand::Withdraw {
            transaction_id,
            amount: amount(minor_units),
            currency,
            description: None,
            occurred_at,
        },
        Move::Freeze => AccountCommand::Freeze {
            reason: text("suspected fraud"),
            occurred_at,
        },
        Move::Unfreeze => AccountCommand::Unfreeze { occurred_at },
        Move::Close => AccountCommand::Close { occurred_at },
    }
}

/// Decides the opening and every move in turn, evolving the state by whatever was accepted.
fn play(scenario: &Scenario) -> Vec<Step> {
    let mut commands = vec![open(scenario.terms.clone())];
    let mut occurred_at = scenario.terms.occurred_at;
    for (step, (pause, a_move)) in scenario.moves.iter().enumerate() {
        occurred_at += *pause;
        commands.push(command_for(step + 1, a_move, occurred_at));
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

/// The rules restated as plainly as possible, to check `decide` against. Withdrawals are kept
/// per day for the whole history rather than for the latest day only, as `Account` does.
#[derive(Debug)]
struct Model {
    currency: Currency,
    overdraft_limit: i64,
    daily_limit: Option<i64>,
    balance: i64,
    frozen: bool,
    closed: bool,
    withdrawn_per_day: BTreeMap<NaiveDate, i64>,
}

impl Model {
    fn opened(terms: &OpenAccount) -> Model {
        Model {
            currency: terms.currency,
            overdraft_limit: terms.overdraft_limit.minor_units(),
            daily_limit: terms.daily_withdrawal_limit.map(Limit::minor_units),
            balance: terms
                .initial_deposit
                .map_or(0, |(_, amount)| amount.minor_units()),
            frozen: false,
            closed: false,
            withdrawn_per_day: BTreeMap::new(),
        }
    }

    fn withdrawn_on(&self, day: NaiveDate) -> i64 {
        self.withdrawn_per_day.get(&day).copied().unwrap_or(0)
    }

    /// Whether the command breaks none of the rules.
    fn allows(&self, command: &AccountCommand) -> bool {
        if self.closed {
            return false;
        }
        match command {
            AccountCommand::Open(_) => false,
            AccountCommand::Deposit { currency, .. } => *currency == self.currency,
            AccountCommand::Withdraw {
                amount,
                currency,
                occurred_at,
                ..
            } => {
                let amount = amount.minor_units();
                let withdrawn_today = self.withdrawn_on(occurred_at.date_naive());
                !self.frozen
                    && *currency == self.currency
                    && self.balance - amount >= -self.overdraft_limit
                    && self
                        .daily_limit
                        .is_none_or(|limit| withdrawn_today + amount <= limit)
            }
            AccountCommand::Freeze { .. } => !self.frozen,
            AccountCommand::Unfreeze { .. } => self.frozen,
            AccountCommand::Close { .. } => !self.frozen && self.balance == 0,
        }
    }

    fn apply(&mut self, command: &AccountCommand) {
        match command {
            AccountCommand::Open(_) => {}
            AccountCommand::Deposit { amount, .. } => self.balance += amount.minor_units(),
            AccountCommand::Withdraw {
                amount, occurred_at, ..
            } => {
                self.balance -= amount.minor_units();
                *self
                    .withdrawn_per_day
                    .entry(occurred_at.date_naive())
                    .or_default() += amount.minor_units();
            }
            AccountCommand::Freeze { .. } => self.frozen = true,
            AccountCommand::Unfreeze { .. } => self.frozen = false,
            AccountCommand::Close { .. } => self.closed = true,
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
    fn the_balance_is_the_sum_of_deposits_minus_withdrawals(scenario in any_scenario()) {
        let mut deposits = 0_i64;
        let mut withdrawals = 0_i64;
        for step in play(&scenario) {
            for event in step.events() {
                match event {
                    AccountEvent::MoneyDeposited { amount, .. } => {
                        deposits += amount.minor_units();
                    }
                    AccountEvent::MoneyWithdrawn { amount, .. } => {
                        withdrawals += amount.minor_units();
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(balance_of(&step.after), deposits - withdrawals);
        }
    }

    #[test]
    fn withdrawals_on_one_utc_day_never_exceed_the_daily_limit(scenario in any_scenario()) {
        let Some(daily_limit) = scenario.terms.daily_withdrawal_limit else {
            return Ok(());
        };
        let mut withdrawn_per_day = BTreeMap::<NaiveDate, i64>::new();
        for event in stream(&play(&scenario)) {
            if let AccountEvent::MoneyWithdrawn { amount, occurred_at, .. } = event {
                let day = occurred_at.date_naive();
                *withdrawn_per_day.entry(day).or_default() += amount.minor_units();
            }
        }
        for (day, total) in withdrawn_per_day {
            prop_assert!(total <= daily_limit.minor_units(), "{total} withdrawn on {day}");
        }
    }

    #[test]
    fn a_command_is_refused_exactly_when_it_breaks_a_rule(scenario in any_scenario()) {
        let steps = play(&scenario);
        prop_assert!(steps[0].outcome.is_ok(), "the opening was refused: {:?}", steps[0].outcome);
        let mut model = Model::opened(&scenario.terms);
        for step in &steps[1..] {
            let allowed = model.allows(&step.command);
            prop_assert_eq!(
                step.outcome.is_ok(),
                allowed,
                "{:?} decided as {:?}, model {:?}",
                step.command,
                step.outcome,
                model,
            );
            if allowed {
                prop_assert_eq!(step.events().len(), 1);
                model.apply(&step.command);
            } else {
                // A refusal is an `Err`, which carries no events, so nothing can change.
                prop_assert_eq!(&step.after, &step.before, "a refused command changed the state");
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
