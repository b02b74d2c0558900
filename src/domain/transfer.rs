//! The transfer as an aggregate of its own: the record of what was asked and how it ended.
//!
//! A transfer touches two accounts, and each account decides only for itself. What both sides
//! and every process manager must agree on is recorded here, in the transfer's own stream,
//! appended in the same transaction as the account event it goes with and with an expected
//! version, so that exactly one answer wins:
//!
//! - **the id names one transfer**: `TransferRequested` is written with the source's debit;
//!   the same id asked again with other terms (or from another account) is refused;
//! - **the transfer settles once**: `TransferSettled` is written with the destination's credit
//!   or with the source's refund. Two managers racing to settle the same transfer cannot both
//!   win; the loser reads the recorded outcome and follows it. Money is never both credited
//!   and refunded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Decider;
use crate::domain::account::RefundReason;
use crate::domain::ids::{AccountId, TransferId};
use crate::domain::money::{Amount, Currency};

/// The `stream_type` of transfer streams in the event log (their id is the transfer id).
pub const STREAM_TYPE: &str = "transfer";

/// The terms a transfer was asked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub from_account: AccountId,
    pub to_account: AccountId,
    pub amount: Amount,
    pub currency: Currency,
}

/// How a transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The destination was credited.
    Credited,
    /// The destination refused; the source was refunded.
    Refunded { reason: RefundReason },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "type", content = "data")]
pub enum TransferEvent {
    TransferRequested {
        transfer_id: TransferId,
        #[serde(flatten)]
        terms: Terms,
        occurred_at: DateTime<Utc>,
    },
    TransferSettled {
        transfer_id: TransferId,
        #[serde(flatten)]
        outcome: Outcome,
        occurred_at: DateTime<Utc>,
    },
}

impl TransferEvent {
    pub fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            TransferEvent::TransferRequested { occurred_at, .. }
            | TransferEvent::TransferSettled { occurred_at, .. } => *occurred_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
pub enum TransferCommand {
    /// Recorded with the source's debit.
    Request {
        transfer_id: TransferId,
        terms: Terms,
        occurred_at: DateTime<Utc>,
    },
    /// Recorded with the destination's credit or the source's refund.
    Settle {
        transfer_id: TransferId,
        outcome: Outcome,
        occurred_at: DateTime<Utc>,
    },
}

impl TransferCommand {
    /// A stable name: the variant's.
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// What the transfer's stream says so far.
/// (No `Default`: the state before the first event is [`TransferDecider::initial_state`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferState {
    /// Nothing recorded (a new id, or a transfer debited before transfers had streams).
    Unrecorded,
    Requested(Terms),
    /// Settled, with the terms it was requested with (`None` when it was debited before
    /// transfers had streams).
    Settled {
        terms: Option<Terms>,
        outcome: Outcome,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error("transfer id {0} was already used for a different transfer")]
    IdReused(TransferId),
    /// Another manager settled it first, the other way: follow the recorded outcome.
    #[error("transfer {transfer_id} was already settled: {recorded:?}")]
    SettledOtherwise {
        transfer_id: TransferId,
        recorded: Outcome,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct TransferDecider;

impl Decider for TransferDecider {
    type State = TransferState;
    type Command = TransferCommand;
    type Event = TransferEvent;
    type Error = TransferError;

    fn initial_state() -> TransferState {
        TransferState::Unrecorded
    }

    fn decide(state: &TransferState, command: TransferCommand) -> Result<Vec<TransferEvent>, TransferError> {
        decide(state, command)
    }

    fn evolve(state: TransferState, event: &TransferEvent) -> TransferState {
        evolve(state, event)
    }
}

/// A request is recorded once (asked again with the same terms it is a no-op, with other
/// terms it is refused); a settlement is recorded once (the same outcome again is a no-op, the
/// other outcome is refused with what was recorded).
pub fn decide(state: &TransferState, command: TransferCommand) -> Result<Vec<TransferEvent>, TransferError> {
    match command {
        TransferCommand::Request {
            transfer_id,
            terms,
            occurred_at,
        } => match state {
            TransferState::Unrecorded => Ok(vec![TransferEvent::TransferRequested {
                transfer_id,
                terms,
                occurred_at,
            }]),
            // The same request again, before or after settlement, changes nothing.
            TransferState::Requested(recorded)
            | TransferState::Settled {
                terms: Some(recorded),
                ..
            } if *recorded == terms => Ok(Vec::new()),
            TransferState::Requested(_) | TransferState::Settled { .. } => {
                Err(TransferError::IdReused(transfer_id))
            }
        },
        TransferCommand::Settle {
            transfer_id,
            outcome,
            occurred_at,
        } => match state {
            TransferState::Unrecorded | TransferState::Requested(_) => {
                Ok(vec![TransferEvent::TransferSettled {
                    transfer_id,
                    outcome,
                    occurred_at,
                }])
            }
            TransferState::Settled {
                outcome: recorded, ..
            } if *recorded == outcome => Ok(Vec::new()),
            TransferState::Settled {
                outcome: recorded, ..
            } => Err(TransferError::SettledOtherwise {
                transfer_id,
                recorded: *recorded,
            }),
        },
    }
}

pub fn evolve(state: TransferState, event: &TransferEvent) -> TransferState {
    match event {
        TransferEvent::TransferRequested { terms, .. } => match state {
            TransferState::Unrecorded => TransferState::Requested(*terms),
            recorded => recorded,
        },
        TransferEvent::TransferSettled { outcome, .. } => TransferState::Settled {
            terms: match state {
                TransferState::Requested(terms) => Some(terms),
                TransferState::Settled { terms, .. } => terms,
                TransferState::Unrecorded => None,
            },
            outcome: *outcome,
        },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0)
            .single()
            .expect("valid")
    }

    fn terms(amount: i64) -> Terms {
        Terms {
            from_account: AccountId(Uuid::from_u128(1)),
            to_account: AccountId(Uuid::from_u128(2)),
            amount: Amount::new(amount).expect("amount"),
            currency: "EUR".parse().expect("EUR"),
        }
    }

    fn id() -> TransferId {
        TransferId(Uuid::from_u128(7))
    }

    fn request(amount: i64) -> TransferCommand {
        TransferCommand::Request {
            transfer_id: id(),
            terms: terms(amount),
            occurred_at: now(),
        }
    }

    fn settle(outcome: Outcome) -> TransferCommand {
        TransferCommand::Settle {
            transfer_id: id(),
            outcome,
            occurred_at: now(),
        }
    }

    fn after(commands: &[TransferCommand]) -> TransferState {
        commands.iter().fold(TransferState::Unrecorded, |state, command| {
            let events = decide(&state, command.clone()).expect("accepted");
            events.iter().fold(state, evolve)
        })
    }

    #[test]
    fn a_command_is_named_by_its_variant() {
        assert_eq!(request(100).name(), "Request");
        assert_eq!(settle(Outcome::Credited).name(), "Settle");
    }

    #[test]
    fn an_id_is_requested_once_and_the_same_request_again_changes_nothing() {
        let state = after(&[request(100)]);
        assert_eq!(state, TransferState::Requested(terms(100)));
        assert_eq!(decide(&state, request(100)), Ok(Vec::new()));
    }

    #[test]
    fn an_id_asked_again_with_other_terms_is_refused() {
        let state = after(&[request(100)]);
        assert_eq!(decide(&state, request(200)), Err(TransferError::IdReused(id())));
        let settled = after(&[request(100), settle(Outcome::Credited)]);
        assert_eq!(
            decide(&settled, request(100)),
            Ok(Vec::new()),
            "a late repeat changes nothing"
        );
        assert_eq!(decide(&settled, request(200)), Err(TransferError::IdReused(id())));
    }

    #[test]
    fn a_transfer_settles_once_and_the_loser_of_a_race_learns_the_recorded_outcome() {
        let refunded = Outcome::Refunded {
            reason: RefundReason::DestinationNotFound,
        };
        let state = after(&[request(100), settle(Outcome::Credited)]);
        assert_eq!(decide(&state, settle(Outcome::Credited)), Ok(Vec::new()));
        assert_eq!(
            decide(&state, settle(refunded)),
            Err(TransferError::SettledOtherwise {
                transfer_id: id(),
                recorded: Outcome::Credited
            })
        );
    }

    #[test]
    fn a_transfer_debited_before_transfers_had_streams_can_still_settle() {
        assert_eq!(
            after(&[settle(Outcome::Credited)]),
            TransferState::Settled {
                terms: None,
                outcome: Outcome::Credited
            }
        );
    }

    #[test]
    fn the_decider_trait_runs_the_same_rules() {
        // What the command handler calls: the trait, not the free functions.
        assert_eq!(TransferDecider::initial_state(), TransferState::Unrecorded);
        let requested =
            TransferDecider::decide(&TransferDecider::initial_state(), request(100)).expect("requested");
        assert_eq!(requested.len(), 1);
        let state = TransferDecider::fold(&requested);
        assert_eq!(state, TransferState::Requested(terms(100)));
        let settled = TransferDecider::decide(&state, settle(Outcome::Credited)).expect("settled");
        let state = requested
            .iter()
            .chain(&settled)
            .fold(TransferDecider::initial_state(), TransferDecider::evolve);
        assert_eq!(
            state,
            TransferState::Settled {
                terms: Some(terms(100)),
                outcome: Outcome::Credited
            }
        );
        assert_eq!(
            TransferDecider::decide(&state, request(200)),
            Err(TransferError::IdReused(id()))
        );
    }

    #[test]
    fn events_round_trip_through_json_under_their_type() {
        let event = TransferEvent::TransferSettled {
            transfer_id: id(),
            outcome: Outcome::Refunded {
                reason: RefundReason::DestinationClosed,
            },
            occurred_at: now(),
        };
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(json["type"], "TransferSettled");
        assert_eq!(json["data"]["outcome"], "refunded");
        assert_eq!(json["data"]["reason"], "destination-closed");
        assert_eq!(
            serde_json::from_value::<TransferEvent>(json).expect("deserializes"),
            event
        );
    }
}
