//! The command side: load -> fold -> decide -> append, with optimistic concurrency.
//!
//! [`CommandHandler`] runs the commands of any [`Aggregate`] (a decider with a stream of its
//! own); [`pipeline`] reads top to bottom as the whole write path of the service. A decision
//! that must change a second stream at once (a transfer's record beside the account's debit)
//! carries a [`Companion`]: the pipeline decides it on its own stream and writes both in one
//! append, each at its expected version. This module does IO through the
//! [`EventStore`](crate::store::EventStore) port only; it knows nothing of HTTP.

mod aggregate;
mod cache;
mod companion;
mod encode;
mod load;
mod locks;
pub mod pipeline;
mod report;
mod snapshots;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::account::{AccountDecider, AccountError, AccountEvent, AccountState, Movement};
use crate::domain::ids::{AccountId, OwnerId, TransactionId};
use crate::domain::transfer::Outcome;
use crate::store::{RecordedResponse, StoreError};

pub use aggregate::Aggregate;
pub use cache::StateCache;
pub use companion::Companion;
pub use load::Loaded;
pub use locks::StreamLocks;
pub use pipeline::CommandHandler;
pub use report::DEFAULT_SLOW_THRESHOLD;
pub use snapshots::SnapshotPolicy;

/// The account's command handler: the pipeline run for [`AccountDecider`].
pub type AccountCommandHandler = CommandHandler<AccountDecider>;

/// An account folded from its stream.
pub type LoadedAccount = Loaded<AccountState>;

/// A snapshot of an account is stored once this many events were added since the last one:
/// loading then replays at most this many events, however long the account's history.
pub const SNAPSHOT_EVERY: i64 = 100;

/// What the client requires of the stream's version before the command runs (`If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Run against whatever the current version is; retry on conflicts.
    None,
    /// Run only if the stream is exactly at this version; never retry.
    Version(i64),
}

/// Inputs chosen by the handler, not by the client: time, fresh ids, and facts read from the
/// log for the command.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Recorded as the causation id of every event the command causes.
    pub command_id: Uuid,
    /// A fresh id for a money movement, if the command makes one.
    pub transaction_id: TransactionId,
    pub occurred_at: DateTime<Utc>,
    /// The movement named in [`CommandOptions::movement`], as the log tells it.
    pub movement: Option<Movement>,
}

impl Stamp {
    /// A stamp with nil ids: enough to ask a command builder which kind of command it makes.
    fn probe(now: DateTime<Utc>) -> Self {
        Stamp {
            command_id: Uuid::nil(),
            transaction_id: TransactionId(Uuid::nil()),
            occurred_at: now,
            movement: None,
        }
    }
}

/// How a command runs besides its stream: conditions, tracing, what it must look up, and what
/// else it decides. `O` is what the command answers (see [`pipeline::Outcome`]).
#[derive(Debug, Clone)]
pub struct CommandOptions<O = CommandOutcome> {
    pub precondition: Option<i64>,
    /// The request id, recorded in every event's metadata.
    pub correlation_id: Option<String>,
    /// The API key that sent the command, recorded in every event's metadata (never the key).
    pub key_id: Option<Uuid>,
    /// The only owner whose stream the command may touch (a customer's key); another
    /// owner's stream is answered as a missing one.
    pub owner: Option<OwnerId>,
    /// A movement of the stream that the command names (a reversal does): read from the log
    /// and handed to the command in [`Stamp::movement`].
    pub movement: Option<TransactionId>,
    /// The request's idempotency key, and how to render the response to record with it.
    pub idempotency: Option<Idempotency<O>>,
    /// A decision on another stream, written in the same append (a transfer's record beside
    /// the account's event: see [`crate::domain::transfer`]).
    pub companion: Option<Companion>,
    /// The command creates the stream: the owner check gives way to the id check, so that a
    /// creation at any used id is answered alike.
    pub opens: bool,
}

impl<O> Default for CommandOptions<O> {
    fn default() -> Self {
        CommandOptions {
            precondition: None,
            correlation_id: None,
            key_id: None,
            owner: None,
            movement: None,
            idempotency: None,
            companion: None,
            opens: false,
        }
    }
}

/// Renders the response a keyed request answers, from the command's outcome.
pub type RenderResponse<O = CommandOutcome> = Arc<dyn Fn(&O) -> RecordedResponse + Send + Sync>;

/// An `Idempotency-Key` and the request it came with.
pub struct Idempotency<O = CommandOutcome> {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
    pub render: RenderResponse<O>,
}

impl<O> Clone for Idempotency<O> {
    fn clone(&self) -> Self {
        Idempotency {
            scope: self.scope.clone(),
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            render: self.render.clone(),
        }
    }
}

impl<O> std::fmt::Debug for Idempotency<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("scope", &self.scope)
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// What a successful command did to stream `id` (an account's, unless told otherwise).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome<Id = AccountId, E = AccountEvent> {
    pub id: Id,
    /// The stream version after the command: the new `ETag`.
    pub version: i64,
    /// The global position of the command's last event, for read-your-writes.
    pub position: i64,
    pub events: Vec<E>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("account {0} does not exist")]
    AccountNotFound(AccountId),
    #[error(transparent)]
    Rejected(AccountError),
    #[error("the account is at version {actual}, the request required version {required}")]
    PreconditionFailed { required: i64, actual: i64 },
    #[error("the account kept changing concurrently; gave up after {attempts} attempts")]
    Conflict { attempts: u32 },
    /// The same idempotency key answered this request before: here is that answer.
    #[error("the request was already answered")]
    Replayed(Box<RecordedResponse>),
    /// The idempotency key was used before for a different request.
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyKeyReused { key: String },
    /// Another process settled the transfer first, the other way: follow what it recorded.
    #[error("the transfer was already settled: {0:?}")]
    TransferSettledOtherwise(Outcome),
    #[error("the command's write may or may not have been stored")]
    OutcomeUnknown(#[source] StoreError),
    /// The id already names a stream: an account (anyone's) or a transfer.
    #[error("id {0} is already in use")]
    IdInUse(Uuid),
    #[error("the event store failed")]
    Store(#[from] StoreError),
    #[error("an event could not be encoded")]
    Encoding(#[from] serde_json::Error),
}

/// The recorded answer to a key, if it was recorded for this very request.
fn replayed<O>(idempotency: &Idempotency<O>, recorded: RecordedResponse) -> CommandError {
    if recorded.fingerprint == idempotency.fingerprint {
        CommandError::Replayed(Box::new(recorded))
    } else {
        CommandError::IdempotencyKeyReused {
            key: idempotency.key.clone(),
        }
    }
}
