//! Group commit: appends that arrive while a commit is in flight share the next transaction.
//!
//! Every append must hold the log's lock from reading the head until its commit is durable
//! (see the module docs of [`crate::store`]). One append per transaction would therefore pay a
//! whole lock-read-insert-fsync cycle each, one after the other. Instead, one committer task per
//! process takes every append waiting in its queue, writes them in one transaction, and answers
//! each when the commit returns; appends that arrive meanwhile wait for the next round. There is
//! no timer: a lone append at low load is committed at once, and under load batches grow by
//! themselves to whatever arrived during the previous commit.
//!
//! Per batch, in [`write`]: `BEGIN`, lock the log, then
//! 1. `Heads::read`: one statement for the version and type of every stream involved and the
//!    head of the log;
//! 2. `recorded_responses`: the responses already recorded for the batch's idempotency keys
//!    (only when the batch has keys);
//! 3. `Rows::admit`, append by append: answered already? every stream of the right type and
//!    at its expected version? then its stream, event, response and snapshot rows;
//! 4. `Rows::write`: the new streams, the events, the responses, the snapshots, each one
//!    multi-row insert (split into statements under the backends' bind limits);
//! 5. `COMMIT`.
//!
//! A conflicting append fails alone; its batch-mates are written. Statements are cut under the
//! backends' bind limits (`db::in_statements`), so a batch of any size is one transaction on
//! both databases.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::clock::truncate_to_micros;
use crate::db::{Database, Param, Query, Stored, Transaction, in_statements, insert_rows, query};
use crate::metrics::Metrics;
use crate::store::chain::{self, Link};
use crate::store::{
    Append, Appended, IdempotencyRecord, RecordedResponse, SnapshotState, StoreError, StreamAppend,
};

/// At most this many events go into one transaction (one append more may overshoot it).
const MAX_BATCH_EVENTS: usize = 4_000;

/// Rows per insert statement, and keys per lookup: an event row binds 12 values, and both
/// databases accept tens of thousands of parameters per statement.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Appends waiting for the committer beyond this many make their senders wait (back-pressure).
const QUEUE_CAPACITY: usize = 4_096;

/// Test hooks for the append path; free and inert unless armed.
#[derive(Debug, Default)]
pub struct StoreFaults {
    commit_delay_ms: AtomicU64,
    abandon_next_batch: AtomicBool,
}

impl StoreFaults {
    /// Makes every commit wait this long before `COMMIT`: a slow disk, for tests of what a
    /// client is told when its request times out while its write may still commit.
    pub fn delay_commits(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.commit_delay_ms.store(millis, Ordering::SeqCst);
    }

    /// Makes the committer stop for good after it wrote its next batch, without answering it:
    /// what its appends see when the task dies mid-batch.
    pub fn abandon_next_batch(&self) {
        self.abandon_next_batch.store(true, Ordering::SeqCst);
    }

    fn commit_delay(&self) -> Duration {
        Duration::from_millis(self.commit_delay_ms.load(Ordering::SeqCst))
    }

    fn abandons_batch(&self) -> bool {
        self.abandon_next_batch.swap(false, Ordering::SeqCst)
    }
}

/// The queue into this process's committer task.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    queue: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    append: Linkable,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

/// An append with its events' canonical forms prepared (per stream, per event) by the
/// caller's task, so that linking them under the log's lock is a hash and a concatenation.
#[derive(Debug)]
struct Linkable {
    append: Append,
    prepared: Vec<Vec<chain::Prepared>>,
}

impl Linkable {
    fn new(append: Append) -> Linkable {
        let prepared = append
            .streams
            .iter()
            .map(|stream| {
                stream
                    .events
                    .iter()
                    .map(|event| chain::Prepared::new(event, &stream.stream_type, stream.stream_id))
                    .collect()
            })
            .collect();
        Linkable { append, prepared }
    }
}

impl Committer {
    /// Starts the committer task; it ends when the last handle is dropped.
    pub(crate) fn start(database: Database, faults: Arc<StoreFaults>, metrics: Metrics) -> Committer {
        let (queue, waiting) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(database, faults, metrics, waiting));
        Committer { queue }
    }

    pub(crate) async fn append(&self, append: Append) -> Result<Appended, StoreError> {
        if append.streams.is_empty() || append.streams.iter().any(|stream| stream.events.is_empty()) {
            return Err(StoreError::EmptyAppend);
        }
        let (reply, answer) = oneshot::channel();
        let append = Linkable::new(append);
        // Refused before the committer took it: nothing was written.
        self.queue
            .send(Pending { append, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        // Taken, then never answered: the committer stopped with it in hand, before or after
        // its commit. Only a read of the log can tell.
        answer.await.map_err(|_| StoreError::Abandoned)?
    }
}

async fn run(
    database: Database,
    faults: Arc<StoreFaults>,
    metrics: Metrics,
    mut waiting: mpsc::Receiver<Pending>,
) {
    while let Some(first) = waiting.recv().await {
        let mut events = first.append.append.event_count();
        let mut batch = vec![first];
        while events < MAX_BATCH_EVENTS {
            let Ok(next) = waiting.try_recv() else { break };
            events += next.append.append.event_count();
            batch.push(next);
        }
        let appends = batch.len();
        let started = std::time::Instant::now();
        let (appends_in_batch, replies): (Vec<Linkable>, Vec<_>) = batch
            .into_iter()
            .map(|pending| (pending.append, pending.reply))
            .unzip();
        let answers = commit(&database, &faults, appends_in_batch).await;
        if faults.abandons_batch() {
            // The task dies with the batch in hand: the queue closes first, so that later
            // appends are refused before anything is written, then the batch's replies are
            // dropped unanswered.
            waiting.close();
            drop(replies);
            return;
        }
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A requester that gave up (its request timed out) no longer listens; the write stands.
            let _ = reply.send(answer);
        }
        metrics.append_batch(appends, started.elapsed());
    }
}

/// What becomes of one append of a batch.
#[derive(Debug)]
enum Verdict {
    Written(Appended),
    /// Answered already, in the log or earlier in this batch: the recorded response.
    Answered(Box<RecordedResponse>),
    Refused(StoreError),
}

impl From<Verdict> for Result<Appended, StoreError> {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Written(appended) => Ok(appended),
            Verdict::Answered(response) => Err(StoreError::AlreadyAnswered(response)),
            Verdict::Refused(error) => Err(error),
        }
    }
}

/// Writes one batch; answers each of its appends, in order.
async fn commit(
    database: &Database,
    faults: &StoreFaults,
    appends: Vec<Linkable>,
) -> Vec<Result<Appended, StoreError>> {
    let count = appends.len();
    match write(database, faults, appends).await {
        Ok(verdicts) => verdicts.into_iter().map(Into::into).collect(),
        Err(failure) => (0..count).map(|_| Err(failure.to_store_error())).collect(),
    }
}

/// Why a whole batch failed.
#[derive(Debug)]
enum BatchFailure {
    /// Before `COMMIT`: the transaction rolled back, nothing was written.
    NotWritten(Arc<sqlx::Error>),
    /// At `COMMIT`: it may or may not have been written.
    OutcomeUnknown(Arc<sqlx::Error>),
}

impl BatchFailure {
    fn not_written(error: sqlx::Error) -> Self {
        BatchFailure::NotWritten(Arc::new(error))
    }

    fn outcome_unknown(error: sqlx::Error) -> Self {
        BatchFailure::OutcomeUnknown(Arc::new(error))
    }

    fn to_store_error(&self) -> StoreError {
        match self {
            BatchFailure::NotWritten(error) => StoreError::NotWritten(error.clone()),
            BatchFailure::OutcomeUnknown(error) => StoreError::OutcomeUnknown(error.clone()),
        }
    }
}

/// The batch's transaction: the steps of the module docs, in order.
async fn write(
    database: &Database,
    faults: &StoreFaults,
    appends: Vec<Linkable>,
) -> Result<Vec<Verdict>, BatchFailure> {
    let plain: Vec<&Append> = appends.iter().map(|linkable| &linkable.append).collect();
    let mut tx = database.begin_write().await.map_err(BatchFailure::not_written)?;
    tx.lock_log().await.map_err(BatchFailure::not_written)?;
    let mut heads = Heads::read(&mut tx, &plain)
        .await
        .map_err(BatchFailure::not_written)?;
    if heads.unlinked {
        // Events appended without links (by a version before the chain): linked first.
        let from = chain::head(&mut tx).await.map_err(BatchFailure::not_written)?;
        heads.chain = chain::extend(&mut tx, from, heads.log, i64::MAX)
            .await
            .map_err(BatchFailure::not_written)?;
    }
    let answered = recorded_responses(&mut tx, &plain)
        .await
        .map_err(BatchFailure::not_written)?;

    // Stored to the microsecond: the chain links what the databases keep.
    let mut rows = Rows::new(heads, answered, truncate_to_micros(Utc::now()));
    let verdicts: Vec<Verdict> = appends.into_iter().map(|append| rows.admit(append)).collect();
    if rows.is_empty() {
        // Nothing to write: every append was refused or answered already.
        return Ok(verdicts);
    }
    rows.write(&mut tx).await.map_err(BatchFailure::not_written)?;

    let delay = faults.commit_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    tx.commit().await.map_err(BatchFailure::outcome_unknown)?;
    Ok(verdicts)
}

/// A stream as the log knows it, read under the lock and moved as the batch writes.
#[derive(Debug, Clone, Default)]
struct StreamHead {
    /// `None` for an id no stream has used yet.
    stream_type: Option<String>,
    version: i64,
}

/// The batch's streams, the log's head and the chain's.
#[derive(Debug)]
struct Heads {
    streams: HashMap<Uuid, StreamHead>,
    log: i64,
    /// The position of the chain's last link and that link.
    chain: (i64, Link),
    /// Whether some event has no link yet: then `chain` is not read, but found by
    /// [`chain::head`].
    unlinked: bool,
}

impl Default for Heads {
    fn default() -> Self {
        Heads {
            streams: HashMap::new(),
            log: 0,
            chain: (0, chain::GENESIS),
            unlinked: false,
        }
    }
}

/// One row of [`Heads::read`].
#[derive(Debug, sqlx::FromRow)]
struct HeadRow {
    #[sqlx(try_from = "Stored<Uuid>")]
    stream_id: Uuid,
    stream_type: Option<String>,
    version: i64,
    log_head: i64,
    head_hash: Option<String>,
}

impl Heads {
    /// Each stream's type and version, the log's head and the chain's, in one statement. A stream's version
    /// is its last event's, found by one index probe (not by scanning its events).
    async fn read(tx: &mut Transaction, appends: &[&Append]) -> Result<Heads, sqlx::Error> {
        let mut ids: Vec<Uuid> = appends
            .iter()
            .flat_map(|append| append.streams.iter().map(|stream| stream.stream_id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut heads = Heads::default();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<HeadRow> = query(
                "WITH head AS (SELECT global_position, hash FROM events ORDER BY global_position DESC LIMIT 1) \
                 SELECT v.column1 AS stream_id, s.stream_type, \
                 COALESCE((SELECT e.stream_version FROM events e WHERE e.stream_id = v.column1 \
                 ORDER BY e.stream_version DESC LIMIT 1), 0) AS version, \
                 COALESCE((SELECT global_position FROM head), 0) AS log_head, \
                 (SELECT hash FROM head) AS head_hash \
                 FROM (VALUES ",
            )
            .values(chunk.iter().map(|id| vec![Param::from(*id)]))
            .push(") AS v LEFT JOIN streams s ON s.stream_id = v.column1")
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                heads.log = row.log_head;
                // Events are linked in position order, by this batch or at start-up, so the
                // unlinked ones (appended by a version before the chain) are the newest: an
                // unlinked head is the one sign of them.
                heads.unlinked = row.log_head > 0 && row.head_hash.is_none();
                if let (false, Some(hash)) = (heads.unlinked, &row.head_hash) {
                    heads.chain = (row.log_head, Link::stored(row.log_head, hash)?);
                }
                let head = StreamHead {
                    stream_type: row.stream_type,
                    version: row.version,
                };
                heads.streams.insert(row.stream_id, head);
            }
        }
        Ok(heads)
    }

    /// Whether every stream of an append may be written: its id free or of the same type, and
    /// at the expected version.
    fn check(&self, streams: &[StreamAppend]) -> Result<(), StoreError> {
        let mut seen = HashSet::new();
        for stream in streams {
            let head = self.streams.get(&stream.stream_id).cloned().unwrap_or_default();
            let taken_by = match head.stream_type {
                Some(existing) if existing != stream.stream_type => Some(existing),
                // One append naming one id twice, as two streams.
                _ if !seen.insert(stream.stream_id) => Some(stream.stream_type.clone()),
                _ => None,
            };
            if let Some(existing_type) = taken_by {
                return Err(StoreError::IdInUse {
                    stream_id: stream.stream_id,
                    existing_type,
                    requested_type: stream.stream_type.clone(),
                });
            }
            if head.version != stream.expected_version {
                return Err(StoreError::Conflict {
                    stream_id: stream.stream_id,
                    expected: stream.expected_version,
                    actual: head.version,
                });
            }
        }
        Ok(())
    }
}

/// A response recorded with its key, as the batch's lookup reads it.
#[derive(Debug, sqlx::FromRow)]
struct KeyedResponse {
    scope: String,
    key: String,
    #[sqlx(flatten)]
    response: RecordedResponse,
}

/// The responses already recorded for the batch's idempotency keys: one statement per
/// [`ROWS_PER_STATEMENT`] keys, a join on the key table's primary key.
async fn recorded_responses(
    tx: &mut Transaction,
    appends: &[&Append],
) -> Result<HashMap<(String, String), RecordedResponse>, sqlx::Error> {
    let keys: Vec<Vec<Param>> = appends
        .iter()
        .filter_map(|append| append.idempotency.as_ref())
        .map(|record| {
            vec![
                Param::from(record.scope.as_str()),
                Param::from(record.key.as_str()),
            ]
        })
        .collect();
    let mut answered = HashMap::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<KeyedResponse> = query(
            "SELECT k.scope, k.key, k.fingerprint, k.status, k.body, k.etag, k.location, k.recorded_at \
             FROM (VALUES ",
        )
        .values(chunk.iter().cloned())
        .push(") AS v JOIN idempotency_keys k ON k.scope = v.column1 AND k.key = v.column2")
        .fetch_all(&mut *tx)
        .await?;
        answered.extend(rows.into_iter().map(|row| ((row.scope, row.key), row.response)));
    }
    Ok(answered)
}

/// A snapshot to store with the append it follows.
#[derive(Debug)]
struct PendingSnapshot {
    stream_type: String,
    version: i64,
    position: i64,
    snapshot: SnapshotState,
}

/// What the batch writes, gathered append by append under the log's lock.
#[derive(Debug)]
struct Rows {
    heads: Heads,
    /// Responses recorded before the batch, and those of its own appends so far.
    answered: HashMap<(String, String), RecordedResponse>,
    recorded_at: DateTime<Utc>,
    streams: Vec<Vec<Param>>,
    events: Vec<Vec<Param>>,
    responses: Vec<Vec<Param>>,
    snapshots: HashMap<Uuid, PendingSnapshot>,
}

impl Rows {
    fn new(
        heads: Heads,
        answered: HashMap<(String, String), RecordedResponse>,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        Rows {
            heads,
            answered,
            recorded_at,
            streams: Vec::new(),
            events: Vec::new(),
            responses: Vec::new(),
            snapshots: HashMap::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Decides one append: answered before, refused, or written (its rows added).
    fn admit(&mut self, append: Linkable) -> Verdict {
        let Linkable {
            append:
                Append {
                    streams,
                    idempotency,
                    snapshot,
                },
            prepared,
        } = append;
        if let Some(record) = &idempotency {
            let name = (record.scope.clone(), record.key.clone());
            if let Some(response) = self.answered.get(&name) {
                return Verdict::Answered(Box::new(response.clone()));
            }
        }
        if let Err(refusal) = self.heads.check(&streams) {
            return Verdict::Refused(refusal);
        }
        let first = (streams[0].stream_type.clone(), streams[0].stream_id);
        let appended = self.add_events(streams, prepared);
        if let Some(record) = idempotency {
            self.add_response(record, &appended);
        }
        if let Some(snapshot) = snapshot {
            let (stream_type, stream_id) = first;
            let pending = PendingSnapshot {
                stream_type,
                version: appended.stream_version,
                position: appended.last_position,
                snapshot,
            };
            self.snapshots.insert(stream_id, pending);
        }
        Verdict::Written(appended)
    }

    /// The event rows of every stream, at the next positions and versions; a stream's first
    /// event also registers its id under its type. Answers where the first stream landed.
    fn add_events(&mut self, streams: Vec<StreamAppend>, prepared: Vec<Vec<chain::Prepared>>) -> Appended {
        let mut appended = None;
        for (stream, prepared) in streams.into_iter().zip(prepared) {
            let first_position = self.heads.log + 1;
            if stream.expected_version == 0 {
                self.streams
                    .push(vec![stream.stream_id.into(), stream.stream_type.as_str().into()]);
            }
            let mut version = stream.expected_version;
            for (event, prepared) in stream.events.into_iter().zip(prepared) {
                self.heads.log += 1;
                version += 1;
                let canonical = prepared.canonical_bytes(self.heads.log, version, &self.recorded_at);
                let link = self.heads.chain.1.then_prepared(&canonical);
                self.heads.chain = (self.heads.log, link);
                self.events.push(vec![
                    self.heads.log.into(),
                    stream.stream_type.as_str().into(),
                    stream.stream_id.into(),
                    version.into(),
                    event.event_id.into(),
                    event.event_type.into(),
                    event.schema_version.into(),
                    event.payload.into(),
                    event.metadata.into(),
                    event.occurred_at.into(),
                    self.recorded_at.into(),
                    link.to_hex().into(),
                ]);
            }
            let head = StreamHead {
                stream_type: Some(stream.stream_type),
                version,
            };
            self.heads.streams.insert(stream.stream_id, head);
            appended.get_or_insert(Appended {
                stream_version: version,
                first_position,
                last_position: self.heads.log,
            });
        }
        // `Committer::append` refuses an append without streams.
        appended.unwrap_or(Appended {
            stream_version: 0,
            first_position: self.heads.log,
            last_position: self.heads.log,
        })
    }

    /// The response row of a keyed append, rendered now that its positions are known.
    fn add_response(&mut self, record: IdempotencyRecord, appended: &Appended) {
        let rendered = RecordedResponse {
            fingerprint: record.fingerprint,
            recorded_at: self.recorded_at,
            ..(record.response)(appended)
        };
        self.responses.push(vec![
            record.scope.as_str().into(),
            record.key.as_str().into(),
            rendered.fingerprint.as_str().into(),
            rendered.status.into(),
            (&rendered.body).into(),
            rendered.etag.clone().into(),
            rendered.location.clone().into(),
            self.recorded_at.into(),
        ]);
        self.answered.insert((record.scope, record.key), rendered);
    }

    /// Writes every row, in as few statements as the backends' bind limits allow.
    ///
    /// The primary key of `streams` is the last guard of "one id, one stream type": should the
    /// check of [`Heads::check`] ever miss a case, the whole batch fails as not written (a
    /// retryable `503` for each append), never a stream of two types.
    async fn write(self, tx: &mut Transaction) -> Result<(), sqlx::Error> {
        for rows in in_statements(self.streams) {
            insert_rows("streams", "stream_id, stream_type", rows)
                .execute(&mut *tx)
                .await?;
        }
        for rows in in_statements(self.events) {
            insert_rows("events", EVENT_COLUMNS, rows)
                .execute(&mut *tx)
                .await?;
        }
        for rows in in_statements(self.responses) {
            insert_rows(
                "idempotency_keys",
                "scope, key, fingerprint, status, body, etag, location, recorded_at",
                rows,
            )
            .execute(&mut *tx)
            .await?;
        }
        for (stream_id, pending) in self.snapshots {
            save_snapshot_statement(
                stream_id,
                &pending.stream_type,
                pending.version,
                pending.position,
                &pending.snapshot,
            )
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

const EVENT_COLUMNS: &str = "global_position, stream_type, stream_id, stream_version, event_id, \
    event_type, schema_version, payload, metadata, occurred_at, recorded_at, hash";

/// Keeps the newest snapshot: an older one (from a slower writer) never replaces it.
const SAVE_SNAPSHOT: &str = "INSERT INTO snapshots \
    (stream_id, stream_type, version, position, schema_version, state, taken_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (stream_id) DO UPDATE SET \
    version = excluded.version, position = excluded.position, schema_version = excluded.schema_version, \
    state = excluded.state, taken_at = excluded.taken_at \
    WHERE snapshots.version < excluded.version OR snapshots.schema_version <> excluded.schema_version";

pub(crate) fn save_snapshot_statement(
    stream_id: Uuid,
    stream_type: &str,
    version: i64,
    position: i64,
    snapshot: &SnapshotState,
) -> Query {
    query(SAVE_SNAPSHOT)
        .bind(stream_id)
        .bind(stream_type)
        .bind(version)
        .bind(position)
        .bind(snapshot.schema_version)
        .bind(&snapshot.state)
        .bind(snapshot.taken_at)
}
