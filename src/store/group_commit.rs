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
//! Per batch: `BEGIN`, lock the log, one statement for the heads of the streams involved and of
//! the log, (one for recorded idempotency keys, when the batch has keys), one multi-row insert of
//! the events, (one for recorded responses, one for snapshots, when there are), `COMMIT`.
//! Each append's expected version is checked against its stream's head as the batch goes, so a
//! conflicting append fails alone and the others are written.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::db::{Database, Stored, Transaction, query};
use crate::metrics::Metrics;
use crate::store::{Append, Appended, NewEvent, RecordedResponse, StoreError};

/// At most this many events go into one transaction (the insert binds 11 values per event;
/// both databases accept tens of thousands of parameters).
const MAX_BATCH_EVENTS: usize = 1_000;

/// Appends waiting for the committer beyond this many make their senders wait (back-pressure).
const QUEUE_CAPACITY: usize = 4_096;

/// Test hooks for the append path; free and inert unless armed.
#[derive(Debug, Default)]
pub struct StoreFaults {
    commit_delay_ms: AtomicU64,
}

impl StoreFaults {
    /// Makes every commit wait this long before `COMMIT`: a slow disk, for tests of what a
    /// client is told when its request times out while its write may still commit.
    pub fn delay_commits(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.commit_delay_ms.store(millis, Ordering::SeqCst);
    }

    fn commit_delay(&self) -> Duration {
        Duration::from_millis(self.commit_delay_ms.load(Ordering::SeqCst))
    }
}

/// The queue into this process's committer task.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    queue: mpsc::Sender<Pending>,
}

#[derive(Debug)]
struct Pending {
    append: Append,
    reply: oneshot::Sender<Result<Appended, StoreError>>,
}

impl Committer {
    /// Starts the committer task; it ends when the last handle is dropped.
    pub(crate) fn start(database: Database, faults: Arc<StoreFaults>, metrics: Metrics) -> Committer {
        let (queue, waiting) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(database, faults, metrics, waiting));
        Committer { queue }
    }

    pub(crate) async fn append(&self, append: Append) -> Result<Appended, StoreError> {
        if append.events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { append, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        // The committer answers every append it took; no answer means it stopped mid-batch.
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(
    database: Database,
    faults: Arc<StoreFaults>,
    metrics: Metrics,
    mut waiting: mpsc::Receiver<Pending>,
) {
    while let Some(first) = waiting.recv().await {
        let mut events = first.append.events.len();
        let mut batch = vec![first];
        while events < MAX_BATCH_EVENTS {
            let Ok(next) = waiting.try_recv() else { break };
            events += next.append.events.len();
            batch.push(next);
        }
        let appends = batch.len();
        let started = std::time::Instant::now();
        commit(&database, &faults, batch).await;
        metrics.append_batch(appends, started.elapsed());
    }
}

/// What becomes of one append of a batch.
enum Verdict {
    Written(Appended),
    /// Answered already, in the log or earlier in this batch (then by the batch-mate's index).
    Answered(Box<RecordedResponse>),
    AnsweredInBatch(usize),
    Refused(StoreError),
}

/// Writes one batch and answers each of its appends.
async fn commit(database: &Database, faults: &StoreFaults, batch: Vec<Pending>) {
    let (appends, replies): (Vec<Append>, Vec<_>) = batch
        .into_iter()
        .map(|pending| (pending.append, pending.reply))
        .unzip();
    let verdicts = match write(database, faults, appends).await {
        Ok(verdicts) => resolve(verdicts),
        Err(failure) => {
            let error = |failure: &BatchFailure| match failure {
                BatchFailure::NotWritten(error) => StoreError::NotWritten(error.clone()),
                BatchFailure::OutcomeUnknown(error) => StoreError::OutcomeUnknown(error.clone()),
            };
            replies
                .into_iter()
                .for_each(|reply| drop(reply.send(Err(error(&failure)))));
            return;
        }
    };
    for (reply, verdict) in replies.into_iter().zip(verdicts) {
        // A requester that gave up (its request timed out) no longer listens; the write stands.
        let _ = reply.send(verdict);
    }
}

/// Turns verdicts into answers, giving an in-batch duplicate its batch-mate's response.
fn resolve(verdicts: Vec<(Verdict, Option<RecordedResponse>)>) -> Vec<Result<Appended, StoreError>> {
    let responses: Vec<Option<RecordedResponse>> =
        verdicts.iter().map(|(_, response)| response.clone()).collect();
    verdicts
        .into_iter()
        .map(|(verdict, _)| match verdict {
            Verdict::Written(appended) => Ok(appended),
            Verdict::Answered(response) => Err(StoreError::AlreadyAnswered(response)),
            Verdict::AnsweredInBatch(index) => match responses.get(index).cloned().flatten() {
                Some(response) => Err(StoreError::AlreadyAnswered(Box::new(response))),
                None => Err(StoreError::Closed),
            },
            Verdict::Refused(error) => Err(error),
        })
        .collect()
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
}

/// The heads of the batch's streams and of the log, read under the lock.
#[derive(Debug, sqlx::FromRow)]
struct Head {
    #[sqlx(try_from = "Stored<Uuid>")]
    stream_id: Uuid,
    version: i64,
    log_head: i64,
}

/// A recorded response with its key, as the batch's lookup reads it.
#[derive(Debug, sqlx::FromRow)]
struct KeyedResponse {
    scope: String,
    key: String,
    #[sqlx(flatten)]
    response: RecordedResponse,
}

async fn write(
    database: &Database,
    faults: &StoreFaults,
    appends: Vec<Append>,
) -> Result<Vec<(Verdict, Option<RecordedResponse>)>, BatchFailure> {
    let mut tx = database.begin_write().await.map_err(BatchFailure::not_written)?;
    tx.lock_log().await.map_err(BatchFailure::not_written)?;

    let (mut versions, mut head) = heads(&mut tx, &appends)
        .await
        .map_err(BatchFailure::not_written)?;
    let answered = recorded_responses(&mut tx, &appends)
        .await
        .map_err(BatchFailure::not_written)?;

    let recorded_at = Utc::now();
    let mut events = query(
        "INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id, \
         event_type, schema_version, payload, metadata, occurred_at, recorded_at) VALUES ",
    );
    let mut responses = query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, etag, location, recorded_at) VALUES ",
    );
    let mut snapshots: HashMap<Uuid, PendingSnapshot> = HashMap::new();
    let (mut event_rows, mut response_rows) = (0_usize, 0_usize);
    let mut in_batch: HashMap<(String, String), usize> = HashMap::new();
    let mut verdicts = Vec::with_capacity(appends.len());

    for (index, append) in appends.into_iter().enumerate() {
        if let Some(record) = &append.idempotency {
            let name = (record.scope.clone(), record.key.clone());
            if let Some(response) = answered.get(&name) {
                verdicts.push((Verdict::Answered(Box::new(response.clone())), None));
                continue;
            }
            if let Some(first) = in_batch.get(&name) {
                verdicts.push((Verdict::AnsweredInBatch(*first), None));
                continue;
            }
        }
        // This append's streams: its own first, then the ones written with it.
        let streams: Vec<(String, Uuid, i64, Vec<NewEvent>)> = std::iter::once((
            append.stream_type.clone(),
            append.stream_id,
            append.expected_version,
            append.events,
        ))
        .chain(append.also.into_iter().map(|other| {
            (
                other.stream_type,
                other.stream_id,
                other.expected_version,
                other.events,
            )
        }))
        .collect();
        let conflict = streams.iter().find_map(|(_, stream_id, expected, _)| {
            let actual = versions.get(stream_id).copied().unwrap_or(0);
            (actual != *expected).then_some(StoreError::Conflict {
                stream_id: *stream_id,
                expected: *expected,
                actual,
            })
        });
        if let Some(conflict) = conflict {
            verdicts.push((Verdict::Refused(conflict), None));
            continue;
        }

        let primary_count = i64::try_from(streams[0].3.len()).unwrap_or(i64::MAX);
        let appended = Appended {
            stream_version: append.expected_version + primary_count,
            first_position: head + 1,
            last_position: head + primary_count,
        };
        for (stream_type, stream_id, expected_version, new_events) in streams {
            for (offset, event) in (1_i64..).zip(new_events) {
                head += 1;
                events = events
                    .push(if event_rows == 0 { "(" } else { ", (" })
                    .push_bind(head)
                    .push(", ")
                    .push_bind(stream_type.as_str())
                    .push(", ")
                    .push_bind(stream_id)
                    .push(", ")
                    .push_bind(expected_version + offset)
                    .push(", ")
                    .push_bind(event.event_id)
                    .push(", ")
                    .push_bind(event.event_type)
                    .push(", ")
                    .push_bind(event.schema_version)
                    .push(", ")
                    .push_bind(event.payload)
                    .push(", ")
                    .push_bind(event.metadata)
                    .push(", ")
                    .push_bind(event.occurred_at)
                    .push(", ")
                    .push_bind(recorded_at)
                    .push(")");
                event_rows += 1;
                versions.insert(stream_id, expected_version + offset);
            }
        }

        let mut response = None;
        if let Some(record) = append.idempotency {
            let rendered = (record.response)(&appended);
            let rendered = RecordedResponse {
                fingerprint: record.fingerprint,
                recorded_at,
                ..rendered
            };
            responses = responses
                .push(if response_rows == 0 { "(" } else { ", (" })
                .push_bind(record.scope.as_str())
                .push(", ")
                .push_bind(record.key.as_str())
                .push(", ")
                .push_bind(rendered.fingerprint.as_str())
                .push(", ")
                .push_bind(rendered.status)
                .push(", ")
                .push_bind(&rendered.body)
                .push(", ")
                .push_bind(rendered.etag.clone())
                .push(", ")
                .push_bind(rendered.location.clone())
                .push(", ")
                .push_bind(recorded_at)
                .push(")");
            response_rows += 1;
            in_batch.insert((record.scope, record.key), index);
            response = Some(rendered);
        }
        if let Some(snapshot) = append.snapshot {
            snapshots.insert(
                append.stream_id,
                PendingSnapshot {
                    stream_type: append.stream_type,
                    version: appended.stream_version,
                    position: appended.last_position,
                    snapshot,
                },
            );
        }
        verdicts.push((Verdict::Written(appended), response));
    }

    if event_rows == 0 {
        // Nothing to write: every append was refused or answered already.
        return Ok(verdicts);
    }
    events.execute(&mut tx).await.map_err(BatchFailure::not_written)?;
    if response_rows > 0 {
        responses
            .execute(&mut tx)
            .await
            .map_err(BatchFailure::not_written)?;
    }
    for (stream_id, snapshot) in snapshots {
        save_snapshot(&mut tx, stream_id, snapshot)
            .await
            .map_err(BatchFailure::not_written)?;
    }
    let delay = faults.commit_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    tx.commit().await.map_err(BatchFailure::outcome_unknown)?;
    Ok(verdicts)
}

/// A snapshot to store with the append it follows.
#[derive(Debug)]
struct PendingSnapshot {
    stream_type: String,
    version: i64,
    position: i64,
    snapshot: crate::store::SnapshotState,
}

/// Each stream's version and the log's head, in one statement.
async fn heads(tx: &mut Transaction, appends: &[Append]) -> Result<(HashMap<Uuid, i64>, i64), sqlx::Error> {
    let mut streams: Vec<Uuid> = appends
        .iter()
        .flat_map(|append| {
            std::iter::once(append.stream_id).chain(append.also.iter().map(|other| other.stream_id))
        })
        .collect();
    streams.sort_unstable();
    streams.dedup();
    let mut select = query(
        "SELECT v.column1 AS stream_id, \
         COALESCE((SELECT e.stream_version FROM events e WHERE e.stream_id = v.column1 \
         ORDER BY e.stream_version DESC LIMIT 1), 0) AS version, \
         (SELECT COALESCE(MAX(global_position), 0) FROM events) AS log_head FROM (VALUES ",
    );
    for (n, stream) in streams.iter().enumerate() {
        select = select
            .push(if n == 0 { "(" } else { ", (" })
            .push_bind(*stream)
            .push(")");
    }
    let rows: Vec<Head> = select.push(") AS v").fetch_all(tx).await?;
    let log_head = rows.first().map_or(0, |row| row.log_head);
    Ok((
        rows.into_iter().map(|row| (row.stream_id, row.version)).collect(),
        log_head,
    ))
}

/// The responses already recorded for the batch's idempotency keys.
async fn recorded_responses(
    tx: &mut Transaction,
    appends: &[Append],
) -> Result<HashMap<(String, String), RecordedResponse>, sqlx::Error> {
    let keys: Vec<(&str, &str)> = appends
        .iter()
        .filter_map(|append| append.idempotency.as_ref())
        .map(|record| (record.scope.as_str(), record.key.as_str()))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let mut select = query(
        "SELECT scope, key, fingerprint, status, body, etag, location, recorded_at \
         FROM idempotency_keys WHERE ",
    );
    for (n, (scope, key)) in keys.into_iter().enumerate() {
        select = select
            .push(if n == 0 { "(scope = " } else { " OR (scope = " })
            .push_bind(scope)
            .push(" AND key = ")
            .push_bind(key)
            .push(")");
    }
    let rows: Vec<KeyedResponse> = select.fetch_all(tx).await?;
    Ok(rows
        .into_iter()
        .map(|row| ((row.scope, row.key), row.response))
        .collect())
}

/// Keeps the newest snapshot: an older one never replaces it.
async fn save_snapshot(
    tx: &mut Transaction,
    stream_id: Uuid,
    snapshot: PendingSnapshot,
) -> Result<(), sqlx::Error> {
    crate::store::sql::save_snapshot_statement(
        stream_id,
        &snapshot.stream_type,
        snapshot.version,
        snapshot.position,
        &snapshot.snapshot,
    )
    .execute(tx)
    .await?;
    Ok(())
}
