//! The command side: load -> fold -> decide -> append, with optimistic concurrency.
//!
//! [`AccountCommandHandler::handle`] is the whole write path of the service:
//! 1. take this account's in-process lock, so commands on one account queue instead of racing;
//! 2. if the request carries an idempotency key that was already answered, answer the same;
//! 3. take the account's folded state from the in-process [`StateCache`], or read its latest
//!    snapshot and the events after it (one statement) and fold them:
//!    `state = fold(evolve, snapshot, events)`;
//! 4. check the client's `If-Match` version, if it pinned one;
//! 5. stamp the command with the time and new ids (from the injected clock and id generator),
//!    and with what the log says about a movement the command names (a reversal);
//! 6. `decide`, and append the new events expecting the version the state reflects, together
//!    with the response to record for the idempotency key and, every [`SNAPSHOT_EVERY`] events,
//!    a snapshot.
//!
//! The cache is an optimisation that the expected version makes safe: a state that another
//! process has moved past makes the append conflict, and the handler reloads and decides
//! again. A refusal (or an `If-Match` mismatch) decided on cached state is checked once more on
//! fresh state before it is answered, so a stale cache never refuses what the truth allows.
//! Retries are bounded. This module does IO through the [`EventStore`] port only; it knows
//! nothing of HTTP.

mod cache;
mod locks;
mod report;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::clock::{Clock, IdGenerator};
use crate::domain::Decider;
use crate::domain::account::{
    self, AccountCommand, AccountDecider, AccountError, AccountEvent, AccountState, Movement,
};
use crate::domain::ids::{AccountId, OwnerId, TransactionId, TransferId};
use crate::domain::transfer::{
    self, Outcome, TransferCommand, TransferDecider, TransferError, TransferEvent,
};
use crate::store::{
    Append, Appended, EventStore, IdempotencyRecord, NewEvent, RecordedResponse, SnapshotState, StoreError,
    StreamAppend, codec,
};

pub use cache::StateCache;
pub use locks::StreamLocks;
pub use report::DEFAULT_SLOW_THRESHOLD;

use crate::metrics::{LoadSource, Metrics};
use report::Reporter;

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

/// How a command runs besides its account: conditions, tracing, and what it must look up.
#[derive(Debug, Clone, Default)]
pub struct CommandOptions {
    pub precondition: Option<i64>,
    /// The request id, recorded in every event's metadata.
    pub correlation_id: Option<String>,
    /// The API key that sent the command, recorded in every event's metadata (never the key).
    pub key_id: Option<Uuid>,
    /// The only owner whose account the command may touch (a customer's key); another
    /// owner's account is answered as a missing one.
    pub owner: Option<OwnerId>,
    /// A movement of the account that the command names (a reversal does): read from the log
    /// and handed to the command in [`Stamp::movement`].
    pub movement: Option<TransactionId>,
    /// The request's idempotency key, and how to render the response to record with it.
    pub idempotency: Option<Idempotency>,
    /// The record a transfer step writes on the transfer's own stream, in the same
    /// transaction as the account's events (see [`crate::domain::transfer`]).
    pub transfer: Option<TransferStep>,
    /// The command opens the account: the owner check gives way to the id check, so that an
    /// opening at any used id is answered alike.
    pub opens: bool,
}

/// A transfer step's record: the transfer and the command for its stream.
#[derive(Clone)]
pub struct TransferStep {
    pub transfer_id: TransferId,
    pub command: Arc<dyn Fn(&Stamp) -> TransferCommand + Send + Sync>,
}

impl std::fmt::Debug for TransferStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferStep")
            .field("transfer_id", &self.transfer_id)
            .finish_non_exhaustive()
    }
}

/// Renders the response a keyed request answers, from the command's outcome.
pub type RenderResponse = Arc<dyn Fn(&CommandOutcome) -> RecordedResponse + Send + Sync>;

/// An `Idempotency-Key` and the request it came with.
#[derive(Clone)]
pub struct Idempotency {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
    pub render: RenderResponse,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency")
            .field("scope", &self.scope)
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
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

/// Executes account commands.
#[derive(Debug, Clone)]
pub struct AccountCommandHandler {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    locks: Arc<StreamLocks>,
    cache: StateCache,
    reporter: Reporter,
}

/// An account folded from its stream, with the version and position it reflects.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedAccount {
    pub state: AccountState,
    pub version: i64,
    pub position: i64,
    /// The business time of the last event, if any.
    pub last_occurred_at: Option<DateTime<Utc>>,
    /// The version of the latest snapshot known (`None`: none was taken).
    pub snapshot_version: Option<i64>,
}

impl LoadedAccount {
    fn new() -> Self {
        LoadedAccount {
            state: AccountState::NotOpened,
            version: 0,
            position: 0,
            last_occurred_at: None,
            snapshot_version: None,
        }
    }
}

/// Where the state a command was decided on came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cache,
    Store,
}

impl AccountCommandHandler {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        AccountCommandHandler {
            store,
            clock,
            ids,
            locks: Arc::new(StreamLocks::default()),
            cache: StateCache::default(),
            reporter: Reporter::default(),
        }
    }

    /// Reports every command's outcome and latency, and where its state came from, to `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.reporter.metrics = metrics;
        self
    }

    /// A command that takes at least `threshold` is logged at WARN instead of INFO.
    pub fn with_slow_threshold(mut self, threshold: Duration) -> Self {
        self.reporter.slow_threshold = threshold;
        self
    }

    /// Runs the command `build` makes from a [`Stamp`] against account `account_id`.
    ///
    /// `build` runs again on every attempt, with the same ids and the time of that attempt.
    /// `correlation_id` (the HTTP request id) is recorded in every event's metadata.
    pub async fn handle(
        &self,
        account_id: AccountId,
        precondition: Precondition,
        correlation_id: Option<&str>,
        build: impl Fn(Stamp) -> AccountCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let options = CommandOptions {
            precondition: match precondition {
                Precondition::None => None,
                Precondition::Version(version) => Some(version),
            },
            correlation_id: correlation_id.map(str::to_owned),
            ..CommandOptions::default()
        };
        self.handle_with(account_id, options, build).await
    }

    /// [`handle`](Self::handle) with every option. Each command is reported (metrics, and a
    /// log event with its account, type, outcome and latency) once it is answered.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn handle_with(
        &self,
        account_id: AccountId,
        options: CommandOptions,
        build: impl Fn(Stamp) -> AccountCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let started = std::time::Instant::now();
        // `build` is pure, and the kind of command it makes does not depend on the stamp.
        let command = build(Stamp {
            command_id: Uuid::nil(),
            transaction_id: TransactionId(Uuid::nil()),
            occurred_at: self.clock.now(),
            movement: None,
        })
        .name();
        let result = self.decide_and_append(account_id, options, build).await;
        let result = result.map_err(|error| match error {
            // Opening at a used id answers the same whoever owns the account there.
            CommandError::Rejected(AccountError::AlreadyOpened) => {
                CommandError::IdInUse(account_id.as_uuid())
            }
            error => error,
        });
        self.reporter.report(
            account_id,
            command,
            report::outcome_of(&result),
            started.elapsed(),
        );
        result
    }

    /// The write path itself (see the module docs).
    async fn decide_and_append(
        &self,
        account_id: AccountId,
        options: CommandOptions,
        build: impl Fn(Stamp) -> AccountCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let command_id = self.ids.new_id();
        let transaction_id = TransactionId(self.ids.new_id());

        let _serialized = self.locks.lock(account_id.as_uuid()).await;
        let mut attempt = 0;
        let mut trust_cache = true;
        loop {
            attempt += 1;
            if let Some(idempotency) = &options.idempotency {
                if let Some(recorded) = self
                    .store
                    .recorded_response(&idempotency.scope, &idempotency.key)
                    .await?
                {
                    return Err(replayed(idempotency, recorded));
                }
            }
            let (loaded, source) = self.current(account_id, trust_cache).await?;
            if let (Some(owner), AccountState::Opened(account)) = (options.owner, &loaded.state) {
                // Another owner's account is none of this caller's business: answered exactly
                // as a missing one. (An opening at its id is answered as at any used id.)
                if account.owner_id != owner && !options.opens {
                    return Err(CommandError::AccountNotFound(account_id));
                }
            }
            // Anything but success decided on cached state is decided again on fresh state.
            let recheck = |error: CommandError| {
                if source == Source::Cache {
                    Ok(())
                } else {
                    Err(error)
                }
            };

            if let Some(required) = options.precondition {
                // An account that does not exist is 404 whatever version the client expected.
                let refusal = if loaded.version == 0 {
                    Some(CommandError::AccountNotFound(account_id))
                } else if required != loaded.version {
                    Some(CommandError::PreconditionFailed {
                        required,
                        actual: loaded.version,
                    })
                } else {
                    None
                };
                if let Some(refusal) = refusal {
                    recheck(refusal)?;
                    trust_cache = false;
                    continue;
                }
            }

            let movement = match options.movement {
                Some(transaction_id) => self.movement(account_id, transaction_id).await?,
                None => None,
            };
            // Business time never runs backwards within a stream: a clock behind another
            // process's (or one that steps back) must not date an event before its predecessor,
            // or a withdrawal could count against an earlier day's limit.
            let now = self.clock.now();
            let stamp = Stamp {
                command_id,
                transaction_id,
                occurred_at: loaded.last_occurred_at.map_or(now, |last| now.max(last)),
                movement,
            };
            let command = build(stamp);
            let command_name = command.name();
            let events = match AccountDecider::decide(&loaded.state, command) {
                Ok(events) => events,
                Err(refusal) => {
                    let refusal = match refusal {
                        AccountError::NotOpened => CommandError::AccountNotFound(account_id),
                        refusal => CommandError::Rejected(refusal),
                    };
                    recheck(refusal)?;
                    trust_cache = false;
                    continue;
                }
            };
            if events.is_empty() && source == Source::Cache {
                // Already done? Decided on cached state: look again at fresh state.
                trust_cache = false;
                continue;
            }
            let recorded = match &options.transfer {
                None => None,
                Some(step) => Some(self.transfer_record(step, &stamp).await?),
            };
            let transfer_events = recorded.as_ref().map_or(0, |(_, events)| events.len());
            if events.is_empty() && transfer_events == 0 {
                // Already done (an idempotent repeat, such as a replayed transfer credit).
                return Ok(CommandOutcome {
                    account_id,
                    version: loaded.version,
                    position: loaded.position,
                    events,
                });
            }

            let metadata = json!({
                "correlation_id": options.correlation_id,
                "causation_id": command_id,
                "command": command_name,
                "key_id": options.key_id,
            });
            let record = match (&options.transfer, recorded) {
                (Some(step), Some((version, transfer_events))) if !transfer_events.is_empty() => {
                    Some(StreamAppend {
                        stream_type: transfer::STREAM_TYPE.to_owned(),
                        stream_id: step.transfer_id.as_uuid(),
                        expected_version: version,
                        events: self.new_events(&transfer_events, &metadata)?,
                    })
                }
                _ => None,
            };
            let append = match record {
                // Only the transfer's record is new (a transfer debited before transfers had
                // streams, whose credit the destination already holds).
                Some(record) if events.is_empty() => Append::new(
                    &record.stream_type,
                    record.stream_id,
                    record.expected_version,
                    record.events,
                ),
                None if events.is_empty() => continue,
                Some(record) => self
                    .append_for(account_id, &loaded, &events, &metadata, &options)?
                    .and(record),
                None => self.append_for(account_id, &loaded, &events, &metadata, &options)?,
            };
            let only_the_record = events.is_empty();
            match self.store.append(append).await {
                Ok(_) if only_the_record => {
                    return Ok(CommandOutcome {
                        account_id,
                        version: loaded.version,
                        position: loaded.position,
                        events,
                    });
                }
                Ok(appended) => {
                    let outcome = CommandOutcome {
                        account_id,
                        version: appended.stream_version,
                        position: appended.last_position,
                        events,
                    };
                    self.cache.insert(account_id, after(loaded, &outcome));
                    return Ok(outcome);
                }
                Err(StoreError::Conflict { actual, .. }) => {
                    self.reporter.metrics.append_conflicted();
                    self.cache.forget(account_id);
                    trust_cache = false;
                    match options.precondition {
                        Some(required) => {
                            return Err(CommandError::PreconditionFailed { required, actual });
                        }
                        None if attempt >= MAX_ATTEMPTS => {
                            return Err(CommandError::Conflict { attempts: attempt });
                        }
                        None => {
                            tracing::debug!(attempt, "append conflicted with another writer; retrying");
                            tokio::time::sleep(self.retry_wait(attempt)).await;
                        }
                    }
                }
                Err(StoreError::AlreadyAnswered(recorded)) => {
                    let idempotency = options.idempotency.as_ref();
                    return Err(match idempotency {
                        Some(idempotency) => replayed(idempotency, *recorded),
                        None => CommandError::Replayed(recorded),
                    });
                }
                Err(error) if error.outcome_is_unknown() => {
                    self.cache.forget(account_id);
                    return Err(CommandError::OutcomeUnknown(error));
                }
                Err(StoreError::IdInUse { stream_id, .. }) => {
                    self.cache.forget(account_id);
                    return Err(CommandError::IdInUse(stream_id));
                }
                Err(error) => {
                    self.cache.forget(account_id);
                    return Err(error.into());
                }
            }
        }
    }

    /// The append of `events` on `loaded`, with its metadata, the response to record for the
    /// request's idempotency key, and a snapshot when one is due.
    fn append_for(
        &self,
        account_id: AccountId,
        loaded: &LoadedAccount,
        events: &[AccountEvent],
        metadata: &serde_json::Value,
        options: &CommandOptions,
    ) -> Result<Append, CommandError> {
        let new_events = self.new_events(events, metadata)?;
        let new_version = loaded.version + i64::try_from(events.len()).unwrap_or(i64::MAX);
        let snapshot = if new_version - loaded.snapshot_version.unwrap_or(0) >= SNAPSHOT_EVERY {
            let state = events.iter().fold(loaded.state.clone(), AccountDecider::evolve);
            Some(SnapshotState {
                schema_version: account::STATE_SCHEMA_VERSION,
                state: serde_json::to_value(&state)?,
                taken_at: self.clock.now(),
            })
        } else {
            None
        };
        let idempotency = options.idempotency.as_ref().map(|idempotency| {
            let render = idempotency.render.clone();
            let events = events.to_vec();
            IdempotencyRecord {
                scope: idempotency.scope.clone(),
                key: idempotency.key.clone(),
                fingerprint: idempotency.fingerprint.clone(),
                response: Box::new(move |appended: &Appended| {
                    render(&CommandOutcome {
                        account_id,
                        version: appended.stream_version,
                        position: appended.last_position,
                        events,
                    })
                }),
            }
        });
        Ok(Append {
            idempotency,
            snapshot,
            ..Append::new(
                account::STREAM_TYPE,
                account_id.as_uuid(),
                loaded.version,
                new_events,
            )
        })
    }

    /// Encodes domain events for the log, each with a fresh id and the command's metadata.
    fn new_events<E: serde::Serialize + Occurred>(
        &self,
        events: &[E],
        metadata: &serde_json::Value,
    ) -> Result<Vec<NewEvent>, serde_json::Error> {
        events
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
            .collect()
    }

    /// What the transfer's stream says, and the events `step` adds to it (at which version).
    async fn transfer_record(
        &self,
        step: &TransferStep,
        stamp: &Stamp,
    ) -> Result<(i64, Vec<TransferEvent>), CommandError> {
        let recorded = self
            .store
            .read_stream(transfer::STREAM_TYPE, step.transfer_id.as_uuid(), None)
            .await?;
        let events = codec::decode_all::<TransferEvent>(&recorded)?;
        let version = recorded.last().map_or(0, |event| event.stream_version);
        match TransferDecider::decide(&TransferDecider::fold(&events), (step.command)(stamp)) {
            Ok(events) => Ok((version, events)),
            Err(TransferError::IdReused(transfer_id)) => Err(CommandError::Rejected(
                AccountError::TransferIdReused(transfer_id),
            )),
            Err(TransferError::SettledOtherwise { recorded, .. }) => {
                Err(CommandError::TransferSettledOtherwise(recorded))
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

    /// The account as the next command sees it: from the cache when allowed, else from the
    /// store (and then cached).
    async fn current(
        &self,
        account_id: AccountId,
        trust_cache: bool,
    ) -> Result<(LoadedAccount, Source), StoreError> {
        if trust_cache {
            if let Some(cached) = self.cache.get(account_id) {
                self.reporter.metrics.account_loaded(LoadSource::Cache);
                return Ok((cached, Source::Cache));
            }
        }
        let loaded = self.load(account_id).await?;
        self.reporter
            .metrics
            .account_loaded(if loaded.snapshot_version.is_some() {
                LoadSource::Snapshot
            } else {
                LoadSource::Log
            });
        if loaded.version > 0 {
            self.cache.insert(account_id, loaded.clone());
        }
        Ok((loaded, Source::Store))
    }

    /// What the log says about movement `transaction_id` of the account.
    async fn movement(
        &self,
        account_id: AccountId,
        transaction_id: TransactionId,
    ) -> Result<Option<Movement>, StoreError> {
        let recorded = self
            .store
            .read_movement(
                account::STREAM_TYPE,
                account_id.as_uuid(),
                transaction_id.as_uuid(),
            )
            .await?;
        let events = codec::decode_all::<AccountEvent>(&recorded)?;
        Ok(Movement::find(&events, transaction_id))
    }

    /// The account folded from its whole stream, ignoring snapshots and the cache.
    pub async fn replay(&self, account_id: AccountId) -> Result<LoadedAccount, StoreError> {
        let recorded = self
            .store
            .read_stream(account::STREAM_TYPE, account_id.as_uuid(), None)
            .await?;
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

    /// The account now, from the store: its latest snapshot plus the events after it (one
    /// read), or a full replay when there is no usable snapshot. Equal to
    /// [`replay`](Self::replay) by construction.
    pub async fn load(&self, account_id: AccountId) -> Result<LoadedAccount, StoreError> {
        let latest = self
            .store
            .load_latest(
                account::STREAM_TYPE,
                account_id.as_uuid(),
                account::STATE_SCHEMA_VERSION,
            )
            .await?;
        let start = match latest.snapshot {
            None => LoadedAccount::new(),
            Some(snapshot) => match serde_json::from_value::<AccountState>(snapshot.state) {
                Ok(state) => LoadedAccount {
                    last_occurred_at: match &state {
                        AccountState::Opened(account) => Some(account.updated_at),
                        AccountState::NotOpened => None,
                    },
                    state,
                    version: snapshot.version,
                    position: snapshot.position,
                    snapshot_version: Some(snapshot.version),
                },
                Err(error) => {
                    tracing::warn!(%account_id, %error, "ignoring an unreadable snapshot");
                    return self.replay(account_id).await;
                }
            },
        };
        let events = codec::decode_all::<AccountEvent>(&latest.events)?;
        let last = latest.events.last();
        Ok(LoadedAccount {
            state: events.iter().fold(start.state, AccountDecider::evolve),
            version: last.map_or(start.version, |event| event.stream_version),
            position: last.map_or(start.position, |event| event.global_position),
            last_occurred_at: events
                .last()
                .map(AccountEvent::occurred_at)
                .or(start.last_occurred_at),
            snapshot_version: start.snapshot_version,
        })
    }
}

/// Events of any aggregate know their business time.
trait Occurred {
    fn occurred_at(&self) -> DateTime<Utc>;
}

impl Occurred for AccountEvent {
    fn occurred_at(&self) -> DateTime<Utc> {
        AccountEvent::occurred_at(self)
    }
}

impl Occurred for TransferEvent {
    fn occurred_at(&self) -> DateTime<Utc> {
        TransferEvent::occurred_at(self)
    }
}

/// The account after a successful command's events.
fn after(loaded: LoadedAccount, outcome: &CommandOutcome) -> LoadedAccount {
    let snapshot_taken = outcome.version - loaded.snapshot_version.unwrap_or(0) >= SNAPSHOT_EVERY;
    LoadedAccount {
        state: outcome.events.iter().fold(loaded.state, AccountDecider::evolve),
        version: outcome.version,
        position: outcome.position,
        last_occurred_at: outcome
            .events
            .last()
            .map(AccountEvent::occurred_at)
            .or(loaded.last_occurred_at),
        snapshot_version: if snapshot_taken {
            Some(outcome.version)
        } else {
            loaded.snapshot_version
        },
    }
}

/// The recorded answer to a key, if it was recorded for this very request.
fn replayed(idempotency: &Idempotency, recorded: RecordedResponse) -> CommandError {
    if recorded.fingerprint == idempotency.fingerprint {
        CommandError::Replayed(Box::new(recorded))
    } else {
        CommandError::IdempotencyKeyReused {
            key: idempotency.key.clone(),
        }
    }
}
