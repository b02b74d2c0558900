//! The command pipeline: one path, top to bottom, for every aggregate.
//!
//! ```text
//! handle_with(id, options, build)
//!  └─ run: take the stream's in-process lock, then attempt until an answer
//!      └─ attempt
//!          1. answered_before   the request's Idempotency-Key was answered: answer the same
//!          2. current           the folded state: from the cache, or snapshot + tail from the log
//!          3. check_owner,      whose stream it is (owner), which version (If-Match)
//!             check_version
//!          4. stamp             time, fresh ids, and what the log says of a movement named
//!          5. decide            A::decide(&state, command), and the companion's decision
//!          6. append_of         one append: the stream's events at the version read, the
//!                               companion's at theirs, the response to record, a due snapshot
//!          7. answer            the store's verdict: done, conflict (decide again), or an error
//! ```
//!
//! The cache is an optimisation that the expected version makes safe: a state that another
//! process has moved past makes the append conflict, and the command is decided again on
//! fresh state. A refusal (or an `If-Match` mismatch) decided on cached state is checked once
//! more on fresh state before it is answered, so a stale cache never refuses what the truth
//! allows. Retries are bounded.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::companion::Companion;
use super::encode::Encoder;
use super::load::{self, Loaded};
use super::report::{self, Reporter};
use super::{
    Aggregate, CommandError, CommandOptions, CommandOutcome, Precondition, SnapshotPolicy, Stamp, StateCache,
    StreamLocks, replayed,
};
use crate::clock::{Clock, IdGenerator};
use crate::domain::Decider;
use crate::domain::ids::{OwnerId, TransactionId};
use crate::metrics::{LoadSource, Metrics};
use crate::store::{Append, EventStore, IdempotencyRecord, SnapshotState, StoreError, StreamAppend, codec};

/// How often a command is decided again after losing a race to another process.
const MAX_ATTEMPTS: u32 = 10;

/// The first retry waits up to this long; each further one up to twice as long, at most
/// [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(4);
const MAX_RETRY_WAIT: Duration = Duration::from_millis(250);

/// What a command on `A` answers.
pub type Outcome<A> = CommandOutcome<<A as Aggregate>::Id, <A as Decider>::Event>;

/// Runs the commands of aggregate `A`.
#[derive(Debug, Clone)]
pub struct CommandHandler<A: Aggregate> {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    locks: Arc<StreamLocks>,
    cache: StateCache<A::Id, Loaded<A::State>>,
    reporter: Reporter,
    /// When a stream's state is stored beside its events: the aggregate's policy, its
    /// interval a setting (`--snapshot-every-events`).
    snapshots: SnapshotPolicy,
}

/// Where the state a command was decided on came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cache,
    Store,
}

/// How one attempt ended, when it did not end the command.
enum Attempted<O> {
    Answered(O),
    /// Decided on cached state, and not a success: decide again on fresh state.
    Recheck,
    /// Another writer moved the stream first.
    Conflicted {
        actual: i64,
    },
}

/// The ids a command keeps across attempts, so that a retry names the same movement.
#[derive(Debug, Clone, Copy)]
struct CommandIds {
    command_id: Uuid,
    transaction_id: TransactionId,
}

impl<A: Aggregate> CommandHandler<A> {
    pub fn new(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        CommandHandler {
            store,
            clock,
            ids,
            locks: Arc::new(StreamLocks::default()),
            cache: StateCache::default(),
            reporter: Reporter::default(),
            snapshots: A::SNAPSHOTS,
        }
    }

    /// Takes a snapshot every `events` events instead of the aggregate's default.
    pub fn with_snapshot_interval(mut self, events: i64) -> Self {
        self.snapshots = self.snapshots.with_interval(events);
        self
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

    /// Runs the command `build` makes from a [`Stamp`] against stream `id`.
    ///
    /// `build` runs again on every attempt, with the same ids and the time of that attempt.
    /// `correlation_id` (the HTTP request id) is recorded in every event's metadata.
    pub async fn handle(
        &self,
        id: A::Id,
        precondition: Precondition,
        correlation_id: Option<&str>,
        build: impl Fn(Stamp) -> A::Command,
    ) -> Result<Outcome<A>, CommandError> {
        let options = CommandOptions {
            precondition: match precondition {
                Precondition::None => None,
                Precondition::Version(version) => Some(version),
            },
            correlation_id: correlation_id.map(str::to_owned),
            ..CommandOptions::default()
        };
        self.handle_with(id, options, build).await
    }

    /// [`handle`](Self::handle) with every option. Each command is reported (metrics, and a
    /// log event with its stream, type, outcome and latency) once it is answered.
    // The stream's id is `account_id` in logs, as in the command's report (see `Reporter`).
    #[tracing::instrument(skip_all, fields(account_id = %id))]
    pub async fn handle_with(
        &self,
        id: A::Id,
        options: CommandOptions<Outcome<A>>,
        build: impl Fn(Stamp) -> A::Command,
    ) -> Result<Outcome<A>, CommandError> {
        let started = Instant::now();
        // `build` is pure, and the kind of command it makes does not depend on the stamp.
        let command = A::command_name(&build(Stamp::probe(self.clock.now())));
        let result = self.run(id, &options, &build).await;
        let outcome = report::outcome_of(&result);
        self.reporter
            .report(A::stream_id(id), command, outcome, started.elapsed());
        result
    }

    /// Whose stream `id` is (`None` for a stream without events), read as a command reads it:
    /// from the cache, or from the log and then cached, so that the command that follows
    /// starts from it. What personal text must be sealed for (see [`crate::privacy`]): an
    /// owner never changes, so no fresher state could answer otherwise.
    pub async fn owner_of(&self, id: A::Id) -> Result<Option<OwnerId>, CommandError> {
        let (loaded, _) = self.current(id, true).await?;
        Ok(A::owner(&loaded.state))
    }

    /// Attempts the command until it is answered, one command per stream at a time in this
    /// process.
    async fn run(
        &self,
        id: A::Id,
        options: &CommandOptions<Outcome<A>>,
        build: &impl Fn(Stamp) -> A::Command,
    ) -> Result<Outcome<A>, CommandError> {
        let ids = CommandIds {
            command_id: self.ids.new_id(),
            transaction_id: TransactionId(self.ids.new_id()),
        };
        let _serialized = self.locks.lock(A::stream_id(id)).await;
        let mut trust_cache = true;
        for attempt in 1.. {
            match self.attempt(id, options, build, ids, trust_cache).await? {
                Attempted::Answered(outcome) => return Ok(outcome),
                Attempted::Recheck => trust_cache = false,
                Attempted::Conflicted { actual } => {
                    trust_cache = false;
                    if let Some(required) = options.precondition {
                        return Err(CommandError::PreconditionFailed { required, actual });
                    }
                    if attempt >= MAX_ATTEMPTS {
                        return Err(CommandError::Conflict { attempts: attempt });
                    }
                    tracing::debug!(attempt, "append conflicted with another writer; retrying");
                    tokio::time::sleep(self.retry_wait(attempt)).await;
                }
            }
        }
        unreachable!("the attempts are unbounded until one answers")
    }

    /// One pass of the pipeline (see the module docs).
    async fn attempt(
        &self,
        id: A::Id,
        options: &CommandOptions<Outcome<A>>,
        build: &impl Fn(Stamp) -> A::Command,
        ids: CommandIds,
        trust_cache: bool,
    ) -> Result<Attempted<Outcome<A>>, CommandError> {
        self.answered_before(options).await?;
        let (loaded, source) = self.current(id, trust_cache).await?;
        // Anything but success decided on cached state is decided again on fresh state.
        let recheck = |refusal: CommandError| match source {
            Source::Cache => Ok(Attempted::Recheck),
            Source::Store => Err(refusal),
        };
        // Whose stream it is never changes: no fresher state could answer otherwise.
        check_owner::<A>(id, &loaded, options)?;
        if let Err(refusal) = check_version::<A>(id, &loaded, options) {
            return recheck(refusal);
        }
        let stamp = self.stamp(id, &loaded, options, ids).await?;
        let command = build(stamp);
        let encoder = Encoder {
            ids: &*self.ids,
            metadata: json!({
                "correlation_id": options.correlation_id,
                "causation_id": ids.command_id,
                "command": A::command_name(&command),
                "key_id": options.key_id,
            }),
        };
        let events = match A::decide(&loaded.state, command) {
            Ok(events) if events.is_empty() && source == Source::Cache => return Ok(Attempted::Recheck),
            Ok(events) => events,
            Err(refusal) => return recheck(A::refused(id, refusal)),
        };
        let companion = self
            .companion(options.companion.as_ref(), &stamp, &encoder)
            .await?;
        if events.is_empty() && companion.is_none() {
            // Already done (an idempotent repeat, such as a replayed transfer credit).
            return Ok(Attempted::Answered(unchanged::<A>(id, &loaded, events)));
        }
        let append = self.append_of(id, &loaded, &events, &encoder, options, companion)?;
        self.answer(id, loaded, events, append, options).await
    }

    /// Step 1: the answer recorded for the request's idempotency key, if it was answered before
    /// (as [`CommandError::Replayed`]). Public for a handler that refuses a request before it
    /// reaches the pipeline, and must not refuse a retry of one already answered.
    pub async fn answered_before<O>(&self, options: &CommandOptions<O>) -> Result<(), CommandError> {
        let Some(idempotency) = &options.idempotency else {
            return Ok(());
        };
        match self
            .store
            .recorded_response(&idempotency.scope, &idempotency.key)
            .await?
        {
            Some(recorded) => Err(replayed(idempotency, recorded)),
            None => Ok(()),
        }
    }

    /// Step 2: the stream as the next command sees it: from the cache when allowed, else from the
    /// store (and then cached).
    async fn current(&self, id: A::Id, trust_cache: bool) -> Result<(Loaded<A::State>, Source), StoreError> {
        if trust_cache {
            if let Some(cached) = self.cache.get(&id) {
                self.reporter.metrics.account_loaded(LoadSource::Cache);
                return Ok((cached, Source::Cache));
            }
        }
        let loaded = self.load(id).await?;
        self.reporter
            .metrics
            .account_loaded(if loaded.snapshot_version.is_some() {
                LoadSource::Snapshot
            } else {
                LoadSource::Log
            });
        if loaded.version > 0 {
            self.cache.insert(id, loaded.clone());
        }
        Ok((loaded, Source::Store))
    }

    /// Step 4: the command's inputs that the handler chooses: time, ids, facts from the log.
    async fn stamp(
        &self,
        id: A::Id,
        loaded: &Loaded<A::State>,
        options: &CommandOptions<Outcome<A>>,
        ids: CommandIds,
    ) -> Result<Stamp, CommandError> {
        let movement = match options.movement {
            Some(transaction_id) => {
                let recorded = self
                    .store
                    .read_movement(A::STREAM_TYPE, A::stream_id(id), transaction_id.as_uuid())
                    .await?;
                A::movement(&codec::decode_all::<A::Event>(&recorded)?, transaction_id)
            }
            None => None,
        };
        // Business time never runs backwards within a stream: a clock behind another
        // process's (or one that steps back) must not date an event before its predecessor,
        // or a withdrawal could count against an earlier day's limit.
        let now = self.clock.now();
        Ok(Stamp {
            command_id: ids.command_id,
            transaction_id: ids.transaction_id,
            occurred_at: loaded.last_occurred_at.map_or(now, |last| now.max(last)),
            movement,
        })
    }

    /// Step 5: the companion's decision on its own stream, if the command carries one.
    async fn companion(
        &self,
        companion: Option<&Companion>,
        stamp: &Stamp,
        encoder: &Encoder<'_>,
    ) -> Result<Option<StreamAppend>, CommandError> {
        match companion {
            Some(companion) => companion.decide(&*self.store, stamp, encoder).await,
            None => Ok(None),
        }
    }

    /// Step 6: one append for the whole decision: the stream's events at the version they were
    /// decided on, with the response to record for the request's key and a snapshot when one
    /// is due, and the companion's events at theirs. All or nothing.
    fn append_of(
        &self,
        id: A::Id,
        loaded: &Loaded<A::State>,
        events: &[A::Event],
        encoder: &Encoder<'_>,
        options: &CommandOptions<Outcome<A>>,
        companion: Option<StreamAppend>,
    ) -> Result<Append, CommandError> {
        if events.is_empty() {
            // Only the companion's record is new (a transfer debited before transfers had
            // streams, whose credit the destination already holds).
            return Ok(Append {
                streams: companion.into_iter().collect(),
                idempotency: None,
                snapshot: None,
            });
        }
        let mut streams = vec![encoder.stream::<A>(id, loaded.version, events)?];
        streams.extend(companion);
        Ok(Append {
            streams,
            idempotency: options
                .idempotency
                .as_ref()
                .map(|idempotency| response_to_record::<A>(idempotency, id, events)),
            snapshot: self.snapshot_if_due(loaded, events)?,
        })
    }

    /// The state after `events`, when the aggregate's snapshot policy says it is due.
    fn snapshot_if_due(
        &self,
        loaded: &Loaded<A::State>,
        events: &[A::Event],
    ) -> Result<Option<SnapshotState>, serde_json::Error> {
        let version = loaded.version + i64::try_from(events.len()).unwrap_or(i64::MAX);
        let Some(schema_version) = self.snapshots.schema_version() else {
            return Ok(None);
        };
        if !self.snapshots.is_due(version, loaded.snapshot_version) {
            return Ok(None);
        }
        let state = events.iter().fold(loaded.state.clone(), A::evolve);
        Ok(Some(SnapshotState {
            schema_version,
            state: serde_json::to_value(&state)?,
            taken_at: self.clock.now(),
        }))
    }

    /// Step 7: append, and reads the store's verdict.
    async fn answer(
        &self,
        id: A::Id,
        loaded: Loaded<A::State>,
        events: Vec<A::Event>,
        append: Append,
        options: &CommandOptions<Outcome<A>>,
    ) -> Result<Attempted<Outcome<A>>, CommandError> {
        let only_the_companion = events.is_empty();
        match self.store.append(append).await {
            Ok(_) if only_the_companion => Ok(Attempted::Answered(unchanged::<A>(id, &loaded, events))),
            Ok(appended) => {
                let (version, position) = (appended.stream_version, appended.last_position);
                self.cache
                    .insert(id, loaded.after::<A>(&events, version, position, self.snapshots));
                Ok(Attempted::Answered(CommandOutcome {
                    id,
                    version,
                    position,
                    events,
                }))
            }
            Err(StoreError::Conflict { actual, .. }) => {
                self.reporter.metrics.append_conflicted();
                self.cache.forget(&id);
                Ok(Attempted::Conflicted { actual })
            }
            Err(StoreError::AlreadyAnswered(recorded)) => Err(match &options.idempotency {
                Some(idempotency) => replayed(idempotency, *recorded),
                None => CommandError::Replayed(recorded),
            }),
            Err(error) => {
                self.cache.forget(&id);
                Err(match error {
                    error if error.outcome_is_unknown() => CommandError::OutcomeUnknown(error),
                    StoreError::IdInUse { stream_id, .. } => CommandError::IdInUse(stream_id),
                    error => error.into(),
                })
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

    /// The stream folded from its whole history, ignoring snapshots and the cache.
    pub async fn replay(&self, id: A::Id) -> Result<Loaded<A::State>, StoreError> {
        load::replay::<A>(&*self.store, id).await
    }

    /// The stream now, from the store: its latest snapshot plus the events after it.
    pub async fn load(&self, id: A::Id) -> Result<Loaded<A::State>, StoreError> {
        load::load::<A>(&*self.store, id).await
    }
}

/// Step 3: whether the caller may run the command on this stream: another owner's stream is
/// none of its business, answered exactly as a missing one. (An opening at its id is answered
/// as at any used id.)
fn check_owner<A: Aggregate>(
    id: A::Id,
    loaded: &Loaded<A::State>,
    options: &CommandOptions<Outcome<A>>,
) -> Result<(), CommandError> {
    match (options.owner, A::owner(&loaded.state)) {
        (Some(caller), Some(owner)) if caller != owner && !options.opens => Err(A::missing(id)),
        _ => Ok(()),
    }
}

/// Step 3, continued: whether the stream is at the version the client pinned (`If-Match`).
fn check_version<A: Aggregate>(
    id: A::Id,
    loaded: &Loaded<A::State>,
    options: &CommandOptions<Outcome<A>>,
) -> Result<(), CommandError> {
    let Some(required) = options.precondition else {
        return Ok(());
    };
    // A stream that does not exist is missing whatever version the client expected.
    if loaded.version == 0 {
        Err(A::missing(id))
    } else if required != loaded.version {
        Err(CommandError::PreconditionFailed {
            required,
            actual: loaded.version,
        })
    } else {
        Ok(())
    }
}

/// The answer of a command that changed nothing on its own stream.
fn unchanged<A: Aggregate>(id: A::Id, loaded: &Loaded<A::State>, events: Vec<A::Event>) -> Outcome<A> {
    CommandOutcome {
        id,
        version: loaded.version,
        position: loaded.position,
        events,
    }
}

/// The response the request's key answers from now on, rendered once the append has landed.
fn response_to_record<A: Aggregate>(
    idempotency: &super::Idempotency<Outcome<A>>,
    id: A::Id,
    events: &[A::Event],
) -> IdempotencyRecord {
    let render = idempotency.render.clone();
    let events = events.to_vec();
    IdempotencyRecord {
        scope: idempotency.scope.clone(),
        key: idempotency.key.clone(),
        fingerprint: idempotency.fingerprint.clone(),
        response: Box::new(move |appended| {
            render(&CommandOutcome {
                id,
                version: appended.stream_version,
                position: appended.last_position,
                events,
            })
        }),
    }
}
