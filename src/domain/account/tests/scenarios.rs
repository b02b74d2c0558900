//! Random scenarios for the property tests: an opening (now and then with an overdraft fee)
//! followed by moves (deposits, withdrawals, transfers in and out with their retries,
//! settlements, reversals, holds placed, captured, voided and expired, overdraft fees charged
//! and charged again, freezes, a closing), turned into commands and decided in turn.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

use super::fixtures::*;
use crate::domain::Decider;
use crate::domain::account::{
    AccountCommand, AccountDecider, AccountError, AccountEvent, AccountState, CaptureHold,
    ChargeOverdraftFee, Close, CompleteTransfer, CreditTransfer, DebitTransfer, Deposit, ExpireHold, Freeze,
    FrozenBy, OpenAccount, PlaceHold, RefundReason, RefundTransfer, Reverse, Unfreeze, VoidHold, Withdraw,
};
use crate::domain::ids::{AccountId, HoldId, TransactionId, TransferId};
use crate::domain::money::{Amount, Currency, MAX_AMOUNT_MINOR_UNITS};

/// One random step after the opening.
///
/// A `foreign` move is in the currency the account is not in. Moves that refer back (`pick`)
/// choose among the ids earlier commands used, whether those commands were accepted or not, so
/// settlements and reversals hit real transfers and movements as well as ones the account never
/// recorded. `None` refers to an id no command ever used.
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
    PlaceHold {
        amount: i64,
        foreign: bool,
        /// How long after the move it expires (now and then out of the allowed range).
        lasts: Duration,
        /// `Some`: an earlier hold's id, with its terms again (`true`) or this move's (`false`).
        earlier: Option<(Index, bool)>,
    },
    CaptureHold {
        pick: Option<Index>,
        /// `None`: the whole hold.
        amount: Option<i64>,
    },
    VoidHold {
        pick: Option<Index>,
    },
    ExpireHold {
        pick: Option<Index>,
    },
    /// The overdraft fee policy's command, for the crossing an earlier movement caused (or one
    /// it did not): charged once, answered with nothing after.
    ChargeFee {
        pick: Option<Index>,
    },
    Freeze,
    Unfreeze,
    Close,
    /// Deposits of the largest amount until one is refused: the balance cap (or the account's
    /// state) stops them.
    FillUp,
    /// A withdrawal of one minor unit more than the balance: it crosses below zero whenever
    /// the floor allows it (`play` sets the amount from the state it meets).
    Overdraw,
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
pub(super) struct Scenario {
    pub(super) terms: OpenAccount,
    moves: Vec<(Duration, Move)>,
}

/// One decided command: the state it met, what `decide` said, and the state after.
#[derive(Debug)]
pub(super) struct Step {
    pub(super) before: AccountState,
    pub(super) command: AccountCommand,
    pub(super) outcome: Result<Vec<AccountEvent>, AccountError>,
    pub(super) after: AccountState,
}

impl Step {
    pub(super) fn events(&self) -> &[AccountEvent] {
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

/// Mostly small amounts, where the rules meet each other; now and then the largest allowed, or
/// any up to it, so that overflows and the balance cap are met too.
fn any_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        14 => 1..=5_000_i64,
        1 => Just(MAX_AMOUNT_MINOR_UNITS),
        1 => 1..=MAX_AMOUNT_MINOR_UNITS,
    ]
}

fn any_terms() -> impl Strategy<Value = OpenAccount> {
    any_terms_with(proptest::option::of(1..=10_000_i64).boxed())
}

/// Terms whose daily limit is drawn from `daily_limit`.
fn any_terms_with(daily_limit: BoxedStrategy<Option<i64>>) -> impl Strategy<Value = OpenAccount> {
    (
        any_currency(),
        prop_oneof![8 => 0..=1_000_i64, 1 => Just(MAX_AMOUNT_MINOR_UNITS)],
        daily_limit,
        proptest::option::of(any_amount()),
        proptest::option::weighted(
            0.4,
            prop_oneof![9 => 1..=1_000_i64, 1 => Just(MAX_AMOUNT_MINOR_UNITS)],
        ),
    )
        .prop_map(
            |(currency, overdraft, daily_limit, initial_deposit, overdraft_fee)| OpenAccount {
                currency,
                overdraft_limit: limit(overdraft),
                daily_withdrawal_limit: daily_limit.map(limit),
                initial_deposit: initial_deposit.map(|minor_units| (transaction_id(), amount(minor_units))),
                overdraft_fee: overdraft_fee.map(amount),
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
        4 => (any_amount(), any_foreign(), any::<bool>()).prop_map(
            |(amount, foreign, described)| Move::Deposit { amount, foreign, described }
        ),
        3 => (any_amount(), any_foreign())
            .prop_map(|(amount, foreign)| Move::Withdraw { amount, foreign }),
        3 => (any_amount(), any_foreign(), proptest::bool::weighted(0.05), any_transfer_id_pick())
            .prop_map(|(amount, foreign, to_self, id)| Move::TransferOut { amount, foreign, to_self, id }),
        2 => (any_amount(), any_foreign(), proptest::option::weighted(0.3, any::<Index>()))
            .prop_map(|(amount, foreign, repeat)| Move::TransferIn { amount, foreign, repeat }),
        2 => any_pick().prop_map(|pick| Move::Complete { pick }),
        2 => any_pick().prop_map(|pick| Move::Refund { pick }),
        3 => any_pick().prop_map(|pick| Move::Reverse { pick }),
        3 => (
            any_amount(),
            any_foreign(),
            any_hold_duration(),
            proptest::option::weighted(0.2, (any::<Index>(), any::<bool>())),
        )
            .prop_map(|(amount, foreign, lasts, earlier)| Move::PlaceHold { amount, foreign, lasts, earlier }),
        2 => (any_pick(), proptest::option::of(any_amount()))
            .prop_map(|(pick, amount)| Move::CaptureHold { pick, amount }),
        1 => any_pick().prop_map(|pick| Move::VoidHold { pick }),
        2 => any_pick().prop_map(|pick| Move::ExpireHold { pick }),
        4 => any_pick().prop_map(|pick| Move::ChargeFee { pick }),
        1 => Just(Move::Freeze),
        2 => Just(Move::Unfreeze),
        1 => Just(Move::Close),
        1 => Just(Move::FillUp),
        2 => Just(Move::Overdraw),
    ]
}

/// How long a hold lasts: mostly hours (so that later moves meet it both open and past its
/// deadline), sometimes at the bounds of the allowed range or just outside them.
fn any_hold_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        6 => (1..=48 * 3_600_i64).prop_map(Duration::seconds),
        1 => Just(Duration::seconds(1)),
        1 => Just(Duration::days(30)),
        1 => Just(Duration::milliseconds(999)),
        1 => Just(Duration::days(30) + Duration::milliseconds(1)),
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

pub(super) fn any_scenario() -> impl Strategy<Value = Scenario> {
    (
        any_terms(),
        proptest::collection::vec((any_pause(), any_move()), 0..60),
    )
        .prop_map(|(terms, moves)| Scenario { terms, moves })
}

/// Scenarios of accounts that all have a daily withdrawal limit.
pub(super) fn any_scenario_with_a_daily_limit() -> impl Strategy<Value = Scenario> {
    (
        any_terms_with((1..=10_000_i64).prop_map(Some).boxed()),
        proptest::collection::vec((any_pause(), any_move()), 0..60),
    )
        .prop_map(|(terms, moves)| Scenario { terms, moves })
}

/// The terms of a hold, so that a later move can place it again, or settle it.
#[derive(Debug, Clone, Copy)]
struct HoldTerms {
    hold_id: HoldId,
    amount: Amount,
    currency: Currency,
    expires_at: DateTime<Utc>,
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
    /// The ids of the movements that spend (withdrawals, transfers out, captures): the ones
    /// that may cross below zero.
    spends: Vec<TransactionId>,
    holds: Vec<HoldTerms>,
}

/// An id no command of a scenario uses.
fn unknown_transfer_id() -> TransferId {
    TransferId(Uuid::from_u128(0xBAD))
}

fn unknown_hold_id() -> HoldId {
    HoldId(Uuid::from_u128(0xBAD))
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
            spends: Vec::new(),
            holds: Vec::new(),
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

    fn hold(&self, pick: Option<&Index>) -> HoldId {
        picked(&self.holds, pick).map_or_else(unknown_hold_id, |hold| hold.hold_id)
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
            } => AccountCommand::Deposit(Deposit {
                transaction_id,
                amount: amount(*minor_units),
                currency: self.currency(*foreign),
                description: described.then(|| text("salary")),
                occurred_at,
            }),
            Move::Withdraw {
                amount: minor_units,
                foreign,
            } => AccountCommand::Withdraw(Withdraw {
                transaction_id,
                amount: amount(*minor_units),
                currency: self.currency(*foreign),
                description: None,
                occurred_at,
            }),
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
                AccountCommand::DebitTransfer(DebitTransfer {
                    transfer_id: terms.transfer_id,
                    transaction_id,
                    to_account: terms.counterpart,
                    amount: terms.amount,
                    currency: terms.currency,
                    description: None,
                    occurred_at,
                })
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
                AccountCommand::CreditTransfer(CreditTransfer {
                    transfer_id: terms.transfer_id,
                    transaction_id,
                    from_account: terms.counterpart,
                    amount: terms.amount,
                    currency: terms.currency,
                    description: Some(text("rent share")),
                    occurred_at,
                })
            }
            Move::Complete { pick } => AccountCommand::CompleteTransfer(CompleteTransfer {
                transfer_id: self.transfer_out(pick.as_ref()),
                occurred_at,
            }),
            Move::Refund { pick } => AccountCommand::RefundTransfer(RefundTransfer {
                transfer_id: self.transfer_out(pick.as_ref()),
                transaction_id,
                reason: RefundReason::DestinationClosed,
                occurred_at,
            }),
            Move::Reverse { pick } => AccountCommand::Reverse(Reverse {
                reversal_id: transaction_id,
                transaction_id: picked(&self.transactions, pick.as_ref())
                    .unwrap_or_else(unknown_transaction_id),
                original: None,
                occurred_at,
            }),
            Move::PlaceHold {
                amount: minor_units,
                foreign,
                lasts,
                earlier,
            } => {
                let own = HoldTerms {
                    hold_id: HoldId(Uuid::from_u128(0x3_0000 + step as u128)),
                    amount: amount(*minor_units),
                    currency: self.currency(*foreign),
                    expires_at: occurred_at + *lasts,
                };
                let terms = match earlier {
                    None => own,
                    Some((index, true)) => picked(&self.holds, Some(index)).unwrap_or(own),
                    Some((index, false)) => HoldTerms {
                        hold_id: self.hold(Some(index)),
                        ..own
                    },
                };
                self.holds.push(terms);
                AccountCommand::PlaceHold(PlaceHold {
                    hold_id: terms.hold_id,
                    amount: terms.amount,
                    currency: terms.currency,
                    description: None,
                    expires_at: terms.expires_at,
                    occurred_at,
                })
            }
            Move::CaptureHold {
                pick,
                amount: minor_units,
            } => AccountCommand::CaptureHold(CaptureHold {
                hold_id: self.hold(pick.as_ref()),
                transaction_id,
                amount: minor_units.map(amount),
                occurred_at,
            }),
            Move::VoidHold { pick } => AccountCommand::VoidHold(VoidHold {
                hold_id: self.hold(pick.as_ref()),
                occurred_at,
            }),
            Move::ExpireHold { pick } => AccountCommand::ExpireHold(ExpireHold {
                hold_id: self.hold(pick.as_ref()),
                occurred_at,
            }),
            // Among the last few spends, so that a crossing is often charged soon, and again.
            Move::ChargeFee { pick } => AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee {
                cause: picked(&self.spends[self.spends.len().saturating_sub(2)..], pick.as_ref())
                    .unwrap_or_else(unknown_transaction_id),
                transaction_id,
                occurred_at,
            }),
            Move::Freeze => AccountCommand::Freeze(Freeze {
                reason: text("suspected fraud"),
                by: FrozenBy::Bank,
                occurred_at,
            }),
            Move::Unfreeze => AccountCommand::Unfreeze(Unfreeze {
                by: FrozenBy::Bank,
                reason: None,
                occurred_at,
            }),
            Move::Close => AccountCommand::Close(Close { occurred_at }),
            // One deposit here; `play` repeats it until one is refused.
            // One unit here; `play` sets the amount.
            Move::Overdraw => AccountCommand::Withdraw(Withdraw {
                transaction_id,
                amount: amount(1),
                currency: self.currency,
                description: None,
                occurred_at,
            }),
            Move::FillUp => AccountCommand::Deposit(Deposit {
                transaction_id,
                amount: amount(MAX_AMOUNT_MINOR_UNITS),
                currency: self.currency,
                description: None,
                occurred_at,
            }),
        };
        if matches!(
            command,
            AccountCommand::Withdraw(_) | AccountCommand::DebitTransfer(_) | AccountCommand::CaptureHold(_)
        ) {
            self.spends.push(transaction_id);
        }
        if !matches!(
            command,
            AccountCommand::Freeze(_)
                | AccountCommand::Unfreeze(_)
                | AccountCommand::Close(_)
                | AccountCommand::CompleteTransfer(_)
                | AccountCommand::PlaceHold(_)
                | AccountCommand::VoidHold(_)
                | AccountCommand::ExpireHold(_)
        ) {
            self.transactions.push(transaction_id);
        }
        command
    }
}

/// Decides the opening and every move in turn, evolving the state by whatever was accepted.
pub(super) fn play(scenario: &Scenario) -> Vec<Step> {
    let mut script = Script::new(&scenario.terms);
    let mut commands = vec![(open(scenario.terms.clone()), false, false)];
    let mut occurred_at = scenario.terms.occurred_at;
    for (step, (pause, a_move)) in scenario.moves.iter().enumerate() {
        occurred_at += *pause;
        let command = script.command(step + 1, a_move, occurred_at);
        commands.push((
            command,
            matches!(a_move, Move::FillUp),
            matches!(a_move, Move::Overdraw),
        ));
    }

    let mut state = AccountDecider::initial_state();
    let mut history: Vec<AccountEvent> = Vec::new();
    let mut steps = Vec::with_capacity(commands.len());
    // A fill-up deposit is decided again and again (with fresh ids) until it is refused.
    let mut pending = commands.into_iter().rev().collect::<Vec<_>>();
    let mut repeats = 0_u128;
    while let Some((mut command, fill_up, overdraw)) = pending.pop() {
        if let (true, AccountCommand::Withdraw(withdraw), AccountState::Opened(account)) =
            (overdraw, &mut command, &state)
        {
            let one_more = account.balance.minor_units.saturating_add(1);
            withdraw.amount = amount(one_more.clamp(1, MAX_AMOUNT_MINOR_UNITS));
        }
        if fill_up {
            if let AccountCommand::Deposit(deposit) = &command {
                repeats += 1;
                // 10^17 / 10^15: the cap must refuse by the 101st deposit of a fill-up.
                assert!(repeats <= 10_000, "the balance cap never refused a deposit");
                let again = Deposit {
                    transaction_id: TransactionId(Uuid::from_u128(0x9_0000 + repeats)),
                    ..deposit.clone()
                };
                if matches!(AccountDecider::decide(&state, command.clone()), Ok(ref events) if !events.is_empty())
                {
                    pending.push((AccountCommand::Deposit(again), true, false));
                }
            }
        }
        let command = super::as_the_handler_would(&history, command);
        let outcome = AccountDecider::decide(&state, command.clone());
        let before = state.clone();
        let events = outcome.as_deref().unwrap_or_default();
        history.extend_from_slice(events);
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
pub(super) fn stream(steps: &[Step]) -> Vec<AccountEvent> {
    steps.iter().flat_map(|step| step.events().to_vec()).collect()
}
