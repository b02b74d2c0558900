//! Parked events: what a follower could not handle, set aside so that it can move on.
//!
//! One event that a follower can never handle (a payload it cannot decode, a row its read
//! model refuses, a settlement a rule keeps refusing) must not stop it for good: every event
//! after it would wait too. After a bounded number of tries the follower *parks* the event (a
//! row in `parked_events`, written in the same transaction that moves its checkpoint past it)
//! and goes on. Failures of the database itself are never parked: they are waited out.
//!
//! `GET /projections` shows parked events; an operator then decides with
//! `foldbank parked list | retry | skip`:
//! - *retry*: a process manager handles the event again, out of order (its steps are
//!   idempotent); a read model cannot apply one event out of order, so for a projection retry
//!   means a rebuild from the log that folds its parked events too, after the fix is deployed
//!   (if one still cannot be folded, the rebuild stops and says so, and nothing is forgotten);
//! - *skip*: the event stays unhandled by that follower for good. The row is kept, marked
//!   skipped, because a rebuild or a verify of a read model must leave out exactly what its live
//!   follower left out ([`set_aside`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, Executor, Stored, query};
use crate::follow::{CheckpointMove, FollowError};
use crate::store::RecordedEvent;

/// How often a failing batch is tried before the follower looks at its events one at a time.
pub(crate) const TRIES_BEFORE_ISOLATING: u32 = 3;

/// How often a single event is tried before it is parked.
pub(crate) const TRIES_BEFORE_PARKING: u32 = 5;

/// A parked event, as `GET /projections` and `foldbank parked list` show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ParkedEvent {
    pub follower: String,
    pub position: i64,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub event_id: Uuid,
    pub event_type: String,
    pub error: String,
    pub attempts: i32,
    pub retry_requested: bool,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub parked_at: DateTime<Utc>,
}

const COLUMNS: &str = "follower, position, event_id, event_type, error, attempts, retry_requested, parked_at";

/// Parks `event` and moves the follower's checkpoint past it, in one transaction.
pub(crate) async fn park(
    database: &Database,
    event: &RecordedEvent,
    error: &str,
    attempts: u32,
    checkpoint: CheckpointMove,
) -> Result<(), FollowError> {
    let mut tx = database.begin_write().await?;
    query(format!(
        "INSERT INTO parked_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7) \
         ON CONFLICT (follower, position) DO UPDATE SET error = excluded.error, attempts = excluded.attempts"
    ))
    .bind(checkpoint.name)
    .bind(event.global_position)
    .bind(event.event_id)
    .bind(event.event_type.as_str())
    .bind(error)
    .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
    .bind(Utc::now())
    .execute(&mut tx)
    .await?;
    checkpoint.commit_with(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Every parked event (not skipped), by follower and position (inside a read transaction:
/// those its other reads reflect).
pub async fn parked_events<'e>(on: impl Into<Executor<'e>>) -> Result<Vec<ParkedEvent>, sqlx::Error> {
    query(format!(
        "SELECT {COLUMNS} FROM parked_events WHERE skipped_at IS NULL ORDER BY follower, position"
    ))
    .fetch_all(on)
    .await
}

/// An event a follower set aside: parked, or skipped for good.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SetAside {
    pub follower: String,
    pub position: i64,
    pub skipped: bool,
}

/// Every event a follower left unhandled, parked or skipped: what a rebuild or a verify of its
/// read model leaves out too.
pub async fn set_aside<'e>(on: impl Into<Executor<'e>>) -> Result<Vec<SetAside>, sqlx::Error> {
    query(
        "SELECT follower, position, skipped_at IS NOT NULL AS skipped FROM parked_events \
         ORDER BY follower, position",
    )
    .fetch_all(on)
    .await
}

/// Marks a parked event skipped: it stays unhandled by its follower for good. Answers whether
/// there was one parked.
pub async fn skip(database: &Database, follower: &str, position: i64) -> Result<bool, sqlx::Error> {
    let skipped = database
        .execute_write(
            query(
                "UPDATE parked_events SET skipped_at = $3, retry_requested = FALSE \
                 WHERE follower = $1 AND position = $2 AND skipped_at IS NULL",
            )
            .bind(follower)
            .bind(position)
            .bind(Utc::now()),
        )
        .await?;
    Ok(skipped > 0)
}

/// Asks the running follower to handle a parked event again. Answers whether there was one.
pub async fn request_retry(database: &Database, follower: &str, position: i64) -> Result<bool, sqlx::Error> {
    let marked = database
        .execute_write(
            query(
                "UPDATE parked_events SET retry_requested = TRUE \
                 WHERE follower = $1 AND position = $2 AND skipped_at IS NULL",
            )
            .bind(follower)
            .bind(position),
        )
        .await?;
    Ok(marked > 0)
}

/// The parked events of `follower` an operator asked to retry.
pub(crate) async fn requested_retries(
    database: &Database,
    follower: &str,
) -> Result<Vec<ParkedEvent>, sqlx::Error> {
    query(format!(
        "SELECT {COLUMNS} FROM parked_events WHERE follower = $1 AND retry_requested \
         AND skipped_at IS NULL ORDER BY position"
    ))
    .bind(follower)
    .fetch_all(database)
    .await
}

/// Records the outcome of a retry: the row goes when it succeeded, and stays (with the new
/// error, no longer requested) when it failed again.
pub(crate) async fn retried(
    database: &Database,
    parked: &ParkedEvent,
    failure: Option<&str>,
) -> Result<(), sqlx::Error> {
    let statement = match failure {
        None => query("DELETE FROM parked_events WHERE follower = $1 AND position = $2")
            .bind(parked.follower.as_str())
            .bind(parked.position),
        Some(error) => query(
            "UPDATE parked_events SET retry_requested = FALSE, error = $3, attempts = attempts + 1 \
             WHERE follower = $1 AND position = $2",
        )
        .bind(parked.follower.as_str())
        .bind(parked.position)
        .bind(error),
    };
    database.execute_write(statement).await?;
    Ok(())
}

/// Whether a database error code names a passing condition rather than the statement's content.
fn is_transient(code: &str) -> bool {
    if code.len() == 5 {
        // A PostgreSQL SQLSTATE: serialization failure, deadlock, lock not available, query
        // cancelled, shutting down, and every connection exception.
        matches!(
            code,
            "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
        ) || code.starts_with("08")
    } else {
        // A SQLite result code, perhaps extended: SQLITE_BUSY (5) and SQLITE_LOCKED (6).
        code.parse::<i64>().is_ok_and(|code| matches!(code & 0xff, 5 | 6))
    }
}

impl FollowError {
    /// Whether trying again cannot help: the event itself is the problem, not the database.
    ///
    /// A refusal by the follower, a payload that does not decode, and a statement the database
    /// rejects for its content are; a connection that broke, a time-out, a lock or a
    /// serialization conflict is not (those are waited out, however long they last).
    pub fn is_poison(&self) -> bool {
        match self {
            FollowError::Failed(_) => true,
            FollowError::Store(crate::store::StoreError::Undecodable { .. }) => true,
            FollowError::Database(sqlx::Error::Database(error)) => {
                !error.code().is_some_and(|code| is_transient(&code))
            }
            FollowError::Store(_)
            | FollowError::Database(_)
            | FollowError::CheckpointMoved
            | FollowError::LostLeadership
            | FollowError::Paused
            | FollowError::Contended { .. } => false,
        }
    }
}
