//! The command side: load -> fold -> decide -> append, with optimistic concurrency.
//!
//! [`AccountCommandHandler::handle`] is the whole write path of the service:
//! 1. take this account's in-process lock, so commands on one account queue instead of racing;
//! 2. read the account's stream and fold it into state (`state = fold(evolve, initial, events)`);
//! 3. check the client's `If-Match` version, if it pinned one;
//! 4. stamp the command with the time and new ids (from the injected clock and id generator);
//! 5. `decide`, and append the new events expecting the version just read.
//!
//! If the append conflicts (a writer in *another* process got there first) and the client did not
//! pin a version, the handler reloads and decides again, a bounded number of times. This module
//! does IO through the [`EventStore`] port only; it knows nothing of HTTP.

mod locks;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::clock::{Clock, IdGenerator};
use crate::domain::Decider;
use crate::domain::account::{
    self, AccountCommand, AccountDecider, AccountError, AccountEvent, AccountState,
};
use crate::domain::ids::{AccountId, TransactionId};
use crate::store::{EventStore, NewEvent, Snapshot, StoreError, codec};

pub use locks::StreamLocks;

/// A snapshot is stored once this many events were added since the last one: loading then
/// replays at most this many events, however long the account's history.
pub const SNAPSHOT_EVERY: i64 = 100;

/// How often a command is decided again after losing a race to another process.
const MAX_ATTEMPTS: u32 = 10;

/// The first retry waits up to this long; each further one up to twice as long, at most
/// [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(4);
const MAX_RETRY_WAIT: Duration = Duration::from_millis(250);

/// What the client requires of the stream's version before the command runs (`If-Match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Run against whatever the current version is; retry on conflicts.
    None,
    /// Run only if the stream is exactly at this version; never retry.
    Version(i64),
}

/// Inputs chosen by the handler, not by the client: time and fresh ids.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// Recorded as the causation id of every event the command causes.
    pub command_id: Uuid,
    /// A fresh id for a money movement, if the command makes one.
    pub transaction_id: TransactionId,
    pub occurred_at: DateTime<Utc>,
}

/// What a successful command did.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    pub account_id: AccountId,
    /// The stream version after the command: the new `ETag`.
    pub version: i64,
    /// The global position of the command's last event, for read-your-writes.
    pub position: i64,
    pub events: Vec<AccountEvent>,
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
    #[error("the event store failed")]
    Store(#[from] StoreError),
    #[error("an event could not be encoded")]
    Encoding(#[from] serde_json::Error),
}

/// Executes account commands.
#[derive(Debug, Clone)]
pub struct AccountCommandHandler {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    locks: Arc<StreamLocks>,
}

/// An account folded from its stream, with the version and position it reflects.
#[derive(Debug, Clone)]
pub struct LoadedAccount {
    pub state: AccountState,
    pub version: i64,
    pub position: i64,
    /// The business time of the last event, if any.
    pub last_occurred_at: Option<DateTime<Utc>>,
    /// The version of the snapshot the state started from (`None`: replayed from the start).
    pub snapshot_version: Option<i64>,
}

impl AccountCommandHandler {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        AccountCommandHandler {
            store,
            clock,
            ids,
            locks: Arc::new(StreamLocks::default()),
        }
    }

    /// Runs the command `build` makes from a [`Stamp`] against account `account_id`.
    ///
    /// `build` runs again on every attempt, with the same ids and the time of that attempt.
    /// `correlation_id` (the HTTP request id) is recorded in every event's metadata.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn handle(
        &self,
        account_id: AccountId,
        precondition: Precondition,
        correlation_id: Option<&str>,
        build: impl Fn(Stamp) -> AccountCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command_id = self.ids.new_id();
        let transaction_id = TransactionId(self.ids.new_id());

        let _serialized = self.locks.lock(account_id.as_uuid()).await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let loaded = self.load(account_id).await?;
            if let Precondition::Version(required) = precondition {
                // An account that does not exist is 404 whatever version the client expected.
                if loaded.version == 0 {
                    return Err(CommandError::AccountNotFound(account_id));
                }
                if required != loaded.version {
                    return Err(CommandError::PreconditionFailed {
                        required,
                        actual: loaded.version,
                    });
                }
            }
            // Business time never runs backwards within a stream: a clock behind another
            // process's (or one that steps back) must not date an event before its predecessor,
            // or a withdrawal could count against an earlier day's limit.
            let now = self.clock.now();
            let stamp = Stamp {
                command_id,
                transaction_id,
                occurred_at: loaded.last_occurred_at.map_or(now, |last| now.max(last)),
            };
            let command = build(stamp);
            let metadata = json!({
                "correlation_id": correlation_id,
                "causation_id": command_id,
                "command": command.name(),
            });
            let events = AccountDecider::decide(&loaded.state, command).map_err(|error| match error {
                AccountError::NotOpened => CommandError::AccountNotFound(account_id),
                error => CommandError::Rejected(error),
            })?;
            if events.is_empty() {
                // Already done (an idempotent repeat, such as a replayed transfer credit).
                return Ok(CommandOutcome {
                    account_id,
                    version: loaded.version,
                    position: loaded.position,
                    events,
                });
            }
            let new_events = events
                .iter()
                .map(|event| {
                    let (event_type, payload) = codec::encode(event)?;
                    let schema_version = codec::current_schema_version(&event_type);
                    Ok(NewEvent {
                        event_id: self.ids.new_id(),
                        event_type,
                        schema_version,
                        payload,
                        metadata: metadata.clone(),
                        occurred_at: event.occurred_at(),
                    })
                })
                .collect::<Result<Vec<_>, serde_json::Error>>()?;

            match self
                .store
                .append(
                    account::STREAM_TYPE,
                    account_id.as_uuid(),
                    loaded.version,
                    new_events,
                )
                .await
            {
                Ok(appended) => {
                    self.maybe_snapshot(account_id, loaded, &events, &appended).await;
                    return Ok(CommandOutcome {
                        account_id,
                        version: appended.stream_version,
                        position: appended.last_position,
                        events,
                    });
                }
                Err(StoreError::Conflict { actual, .. }) => match precondition {
                    Precondition::Version(required) => {
                        return Err(CommandError::PreconditionFailed { required, actual });
                    }
                    Precondition::None if attempt >= MAX_ATTEMPTS => {
                        return Err(CommandError::Conflict { attempts: attempt });
                    }
                    Precondition::None => {
                        tracing::debug!(attempt, "append conflicted with another writer; retrying");
                        tokio::time::sleep(self.retry_wait(attempt)).await;
                    }
                },
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Exponential backoff with full jitter: two processes that collided once must not retry
    /// in lockstep and collide again. The random part comes from the id generator's random
    /// bits (UUIDv7 ends in 62 random bits).
    fn retry_wait(&self, attempt: u32) -> Duration {
        let ceiling = FIRST_RETRY_WAIT
            .saturating_mul(1 << attempt.min(16))
            .min(MAX_RETRY_WAIT);
        let random = u64::try_from(self.ids.new_id().as_u128() & 0xFFFF).unwrap_or(0);
        let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(micros.saturating_mul(random) / 65_536)
    }

    /// The account folded from its whole stream, ignoring snapshots.
    pub async fn replay(&self, account_id: AccountId) -> Result<LoadedAccount, StoreError> {
        let recorded = self.store.read_stream(account_id.as_uuid(), None).await?;
        let events = codec::decode_all::<AccountEvent>(&recorded)?;
        let last = recorded.last();
        Ok(LoadedAccount {
            snapshot_version: None,
            last_occurred_at: events.last().map(AccountEvent::occurred_at),
            state: AccountDecider::fold(&events),
            version: last.map_or(0, |event| event.stream_version),
            position: last.map_or(0, |event| event.global_position),
        })
    }

    /// The account now: its latest snapshot plus the events after it, or a full replay when
    /// there is no usable snapshot. Equal to [`replay`](Self::replay) by construction.
    pub async fn load(&self, account_id: AccountId) -> Result<LoadedAccount, StoreError> {
        let Some((state, snapshot)) = self.snapshot(account_id).await? else {
            return self.replay(account_id).await;
        };
        let recorded = self
            .store
            .read_stream_after(account_id.as_uuid(), snapshot.version)
            .await?;
        let events = codec::decode_all::<AccountEvent>(&recorded)?;
        let state = events.iter().fold(state, AccountDecider::evolve);
        let last_occurred_at = match (&state, events.last()) {
            (_, Some(event)) => Some(event.occurred_at()),
            (AccountState::Opened(account), None) => Some(account.updated_at),
            (AccountState::NotOpened, None) => None,
        };
        let last = recorded.last();
        Ok(LoadedAccount {
            state,
            version: last.map_or(snapshot.version, |event| event.stream_version),
            position: last.map_or(snapshot.position, |event| event.global_position),
            last_occurred_at,
            snapshot_version: Some(snapshot.version),
        })
    }

    /// The stored snapshot and its state, if there is one this build can read. A snapshot of
    /// another shape (or one that does not parse) is ignored: the events rebuild the state.
    async fn snapshot(&self, account_id: AccountId) -> Result<Option<(AccountState, Snapshot)>, StoreError> {
        let Some(snapshot) = self.store.load_snapshot(account_id.as_uuid()).await? else {
            return Ok(None);
        };
        if snapshot.schema_version != account::STATE_SCHEMA_VERSION {
            return Ok(None);
        }
        match serde_json::from_value::<AccountState>(snapshot.state.clone()) {
            Ok(state) => Ok(Some((state, snapshot))),
            Err(error) => {
                tracing::warn!(%account_id, %error, "ignoring an unreadable snapshot");
                Ok(None)
            }
        }
    }

    /// Stores the state after `appended` if enough events were added since the last snapshot.
    /// Best effort: a failure only means the next load replays a little more.
    async fn maybe_snapshot(
        &self,
        account_id: AccountId,
        loaded: LoadedAccount,
        events: &[AccountEvent],
        appended: &crate::store::Appended,
    ) {
        if appended.stream_version - loaded.snapshot_version.unwrap_or(0) < SNAPSHOT_EVERY {
            return;
        }
        let state = events.iter().fold(loaded.state, AccountDecider::evolve);
        let snapshot = serde_json::to_value(&state).map(|state| Snapshot {
            stream_type: account::STREAM_TYPE.to_owned(),
            stream_id: account_id.as_uuid(),
            version: appended.stream_version,
            position: appended.last_position,
            schema_version: account::STATE_SCHEMA_VERSION,
            state,
            taken_at: self.clock.now(),
        });
        let saved = match snapshot {
            Ok(snapshot) => self
                .store
                .save_snapshot(&snapshot)
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = saved {
            tracing::warn!(%account_id, %error, "could not store a snapshot");
        }
    }
}
