//! What the command pipeline needs to know of an aggregate besides its decider: where its
//! stream lives in the log, when its state is snapshotted, and how its refusals are answered.
//!
//! The domain's deciders know nothing of the log; this trait is the adapter between the two,
//! one `impl` per aggregate, so that [`super::CommandHandler`] runs every aggregate the same way.

use std::fmt::{Debug, Display};
use std::hash::Hash;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{CommandError, SNAPSHOT_EVERY, SnapshotPolicy};
use crate::domain::Decider;
use crate::domain::account::{self, AccountDecider, AccountError, AccountEvent, AccountState, Movement};
use crate::domain::ids::{AccountId, OwnerId, TransactionId, TransferId};
use crate::domain::transfer::{self, TransferDecider, TransferError, TransferEvent};

/// A decider with a stream of its own in the event log.
pub trait Aggregate:
    Decider<
        State: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
        Event: Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
        Command: Send,
        Error: Send,
    > + Send
    + Sync
    + 'static
{
    /// The `stream_type` of this aggregate's streams: an id names one stream of one type.
    const STREAM_TYPE: &'static str;
    /// When the state is stored as a snapshot beside the events, and in which shape.
    const SNAPSHOTS: SnapshotPolicy;

    /// The id that names one stream of this aggregate.
    type Id: Copy + Debug + Display + Eq + Hash + Send + Sync + 'static;

    fn stream_id(id: Self::Id) -> Uuid;

    /// The command's name, for metrics, logs and every event's metadata.
    fn command_name(command: &Self::Command) -> &'static str;

    /// The business time of an event.
    fn occurred_at(event: &Self::Event) -> DateTime<Utc>;

    /// The business time of the last event folded into `state`, when the state knows it (a
    /// state loaded from a snapshot has no events to ask).
    fn last_occurred_at(_state: &Self::State) -> Option<DateTime<Utc>> {
        None
    }

    /// Whose stream this is, for a caller limited to one owner's streams.
    fn owner(_state: &Self::State) -> Option<OwnerId> {
        None
    }

    /// A movement of the stream, as the events that name it tell it (what a reversal needs).
    fn movement(_events: &[Self::Event], _transaction_id: TransactionId) -> Option<Movement> {
        None
    }

    /// A refusal, as the command side answers it.
    fn refused(id: Self::Id, refusal: Self::Error) -> CommandError;

    /// The answer to a command that requires a version of a stream with no events.
    fn missing(id: Self::Id) -> CommandError;
}

impl Aggregate for AccountDecider {
    const STREAM_TYPE: &'static str = account::STREAM_TYPE;
    const SNAPSHOTS: SnapshotPolicy = SnapshotPolicy::Every {
        events: SNAPSHOT_EVERY,
        schema_version: account::STATE_SCHEMA_VERSION,
    };

    type Id = AccountId;

    fn stream_id(id: AccountId) -> Uuid {
        id.as_uuid()
    }

    fn command_name(command: &account::AccountCommand) -> &'static str {
        command.name()
    }

    fn occurred_at(event: &AccountEvent) -> DateTime<Utc> {
        event.occurred_at()
    }

    fn last_occurred_at(state: &AccountState) -> Option<DateTime<Utc>> {
        match state {
            AccountState::Opened(account) => Some(account.updated_at),
            AccountState::NotOpened => None,
        }
    }

    fn owner(state: &AccountState) -> Option<OwnerId> {
        match state {
            AccountState::Opened(account) => Some(account.owner_id),
            AccountState::NotOpened => None,
        }
    }

    fn movement(events: &[AccountEvent], transaction_id: TransactionId) -> Option<Movement> {
        Movement::find(events, transaction_id)
    }

    fn refused(id: AccountId, refusal: AccountError) -> CommandError {
        match refusal {
            AccountError::NotOpened => CommandError::AccountNotFound(id),
            // Opening at a used id answers the same whoever owns the account there.
            AccountError::AlreadyOpened => CommandError::IdInUse(id.as_uuid()),
            refusal => CommandError::Rejected(refusal),
        }
    }

    fn missing(id: AccountId) -> CommandError {
        CommandError::AccountNotFound(id)
    }
}

impl Aggregate for TransferDecider {
    const STREAM_TYPE: &'static str = transfer::STREAM_TYPE;
    /// A transfer's stream holds two events at most: nothing to save by a snapshot.
    const SNAPSHOTS: SnapshotPolicy = SnapshotPolicy::Never;

    type Id = TransferId;

    fn stream_id(id: TransferId) -> Uuid {
        id.as_uuid()
    }

    fn command_name(command: &transfer::TransferCommand) -> &'static str {
        command.name()
    }

    fn occurred_at(event: &TransferEvent) -> DateTime<Utc> {
        event.occurred_at()
    }

    fn refused(_id: TransferId, refusal: TransferError) -> CommandError {
        match refusal {
            TransferError::IdReused(transfer_id) => {
                CommandError::Rejected(AccountError::TransferIdReused(transfer_id))
            }
            TransferError::SettledOtherwise { recorded, .. } => {
                CommandError::TransferSettledOtherwise(recorded)
            }
        }
    }

    fn missing(id: TransferId) -> CommandError {
        CommandError::Rejected(AccountError::TransferNotFound(id))
    }
}
