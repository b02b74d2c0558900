//! What every query endpoint shares: [`read`], which asks the primary or a replica once the
//! read models reflect `min_position` (read-your-writes), the `X-Projection-Position` header,
//! page-size limits and page cursors.

use std::time::{Duration, Instant};

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Datelike, Utc};
use uuid::Uuid;

use crate::config::REPLICA_ANSWER_TIME;
use crate::http::AppState;
use crate::http::problem::{ApiError, InvalidParam};
use crate::metrics::ReplicaRead;
use crate::projection::{QueryError, ReadModels, Reads, Replica, Snapshot, replicas};

pub(crate) const PROJECTION_POSITION: HeaderName = HeaderName::from_static("x-projection-position");

pub(crate) const DEFAULT_PAGE_SIZE: i64 = 50;
pub(crate) const MAX_PAGE_SIZE: i64 = 500;

/// Asks `query` of the read models `reads` names once they reflect `min_position`
/// (read-your-writes): of the next hot standby in turn when there are replicas (see
/// [`crate::projection::replicas`]); of the primary when there are none, when the replica has not
/// reached `min_position` within the replica wait, or when it fails.
///
/// Answers 400 at once for a position the log has not reached, and 503 when the primary has not
/// reached it within what is left of the read wait.
///
/// `query` is a closure, as it may be asked twice: of a replica, then of the primary.
pub(crate) async fn read<T: Reflects, Answer>(
    app: &AppState,
    reads: Reads,
    min_position: Option<i64>,
    query: impl Fn(ReadModels) -> Answer,
) -> Result<T, ApiError>
where
    Answer: Future<Output = Result<T, QueryError>>,
{
    let started = Instant::now();
    check_position(app, reads, min_position).await?;
    if let Some(replica) = app.replicas.pick() {
        match from_replica(app, replica, reads, min_position, &query).await {
            Ok(Some(value)) => {
                app.metrics.replica_read(replica.label(), ReplicaRead::Served);
                return Ok(value);
            }
            Ok(None) => {
                replica.fell_behind();
                app.metrics.replica_read(replica.label(), ReplicaRead::Behind);
            }
            Err(error) => {
                let down = error.means_down(replica);
                tracing::warn!(
                    replica = replica.label(),
                    error = %crate::telemetry::error_chain(&error),
                    down,
                    "a replica failed a query: the primary answers it (and a replica that is down rests)"
                );
                if down {
                    replica.rest();
                }
                app.metrics.replica_read(replica.label(), ReplicaRead::Failed);
            }
        }
    }
    if let Some(position) = min_position {
        let names = names(reads);
        let wait = app.read_wait.saturating_sub(started.elapsed());
        app.followers
            .wait_for(&names, position, wait)
            .await
            .map_err(ApiError::ProjectionBehind)?;
    }
    Ok(query(app.read_models.clone()).await?)
}

/// What a query answered, with the log position its data reflects (read in the same snapshot):
/// what a replica's answer is checked against `min_position` by.
pub(crate) trait Reflects {
    fn position(&self) -> i64;
}

impl<T> Reflects for Snapshot<T> {
    fn position(&self) -> i64 {
        self.position
    }
}

/// Two reads: the answer reflects the position both have reached.
impl<A, B> Reflects for (Snapshot<A>, Snapshot<B>) {
    fn position(&self) -> i64 {
        self.0.position.min(self.1.position)
    }
}

/// A read, and a fact read after it from the same database.
impl<T> Reflects for (Snapshot<T>, bool) {
    fn position(&self) -> i64 {
        self.0.position
    }
}

/// Why a replica did not answer.
#[derive(Debug, thiserror::Error)]
enum ReplicaFailure {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

impl ReplicaFailure {
    /// Whether the replica should rest (see [`replicas::is_down`]): a silent one should.
    fn means_down(&self, replica: &Replica) -> bool {
        match self {
            ReplicaFailure::Query(QueryError::Database(error)) => replicas::is_down(error, replica),
            ReplicaFailure::Query(QueryError::Store(_)) => false,
            ReplicaFailure::TimedOut(_) => true,
        }
    }
}

/// `query` asked of `replica` once it reflects `min_position`; `None` if it did not within the
/// replica wait, or answered from a snapshot that does not reflect it.
async fn from_replica<T: Reflects, Answer>(
    app: &AppState,
    replica: &Replica,
    reads: Reads,
    min_position: Option<i64>,
    query: &impl Fn(ReadModels) -> Answer,
) -> Result<Option<T>, ReplicaFailure>
where
    Answer: Future<Output = Result<T, QueryError>>,
{
    let wait = app.replica_wait.min(app.read_wait);
    let attempt = async {
        if let Some(position) = min_position {
            let deadline = tokio::time::Instant::now() + wait;
            if !replica
                .wait_for(reads, position, deadline)
                .await
                .map_err(QueryError::from)?
            {
                return Ok(None);
            }
        }
        let answer = query(replica.read_models().clone()).await?;
        // The answer's own snapshot decides: the wait above read another.
        Ok(match min_position {
            Some(position) if answer.position() < position => None,
            _ => Some(answer),
        })
    };
    let limit = wait + REPLICA_ANSWER_TIME;
    tokio::time::timeout(limit, attempt)
        .await
        .unwrap_or(Err(ReplicaFailure::TimedOut(limit)))
}

/// Refuses a negative `min_position` (400), and one beyond the head of the log (400): that is no
/// write of the client's, and waiting cannot meet it, so it is answered at once instead of
/// holding a request slot for the whole wait.
async fn check_position(app: &AppState, reads: Reads, min_position: Option<i64>) -> Result<(), ApiError> {
    let Some(position) = min_position else {
        return Ok(());
    };
    if position < 0 {
        return Err(InvalidParam::new("min_position", "must be 0 or more").into());
    }
    let reached = names(reads)
        .iter()
        .all(|name| app.followers.checkpoint(name) >= position);
    if !reached {
        let head = app.log.head().await?;
        if position > head {
            return Err(ApiError::PositionBeyondHead {
                wanted: position,
                head,
            });
        }
    }
    Ok(())
}

fn names(reads: Reads) -> Vec<&'static str> {
    reads.read_models().iter().map(|name| name.as_str()).collect()
}

/// Adds `X-Projection-Position: <checkpoint>`.
pub(crate) fn with_projection_position(mut response: Response, position: i64) -> Response {
    response
        .headers_mut()
        .insert(PROJECTION_POSITION, HeaderValue::from(position));
    response
}

/// Checks `limit` against `1..=500`, defaulting to 50.
pub(crate) fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        Some(_) => {
            Err(InvalidParam::new("limit", format_args!("must be between 1 and {MAX_PAGE_SIZE}")).into())
        }
    }
}

/// Parses a `cursor` that holds a global position (pages ordered by position, newest first).
pub(crate) fn position_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    parse_cursor(cursor, |cursor| {
        cursor.parse::<i64>().ok().filter(|position| *position > 0)
    })
}

/// Parses a `cursor` that holds a stream version (one stream's events, oldest first).
pub(crate) fn version_cursor(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    parse_cursor(cursor, |cursor| {
        cursor.parse::<i64>().ok().filter(|version| *version > 0)
    })
}

/// Parses a `cursor` that holds an id (pages ordered by id).
pub(crate) fn id_cursor(cursor: Option<&str>) -> Result<Option<Uuid>, ApiError> {
    parse_cursor(cursor, |cursor| Uuid::parse_str(cursor).ok())
}

fn parse_cursor<T>(
    cursor: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    cursor
        .map(|cursor| {
            parse(cursor).ok_or_else(|| InvalidParam::new("cursor", "not a cursor from this API").into())
        })
        .transpose()
}

/// Checks that a query instant lies within years 0 to 9999: what RFC 3339 can write and both
/// databases store. (chrono parses years up to ±262143; PostgreSQL refuses those before 4713
/// BC, and SQLite's text timestamps only sort correctly with four-digit years.)
pub(crate) fn instant(name: &str, at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match at {
        Some(at) if !(0..=9999).contains(&at.year()) => {
            Err(InvalidParam::new(name, "must be between years 0000 and 9999").into())
        }
        at => Ok(at),
    }
}
