//! One process at a time: the rounds of a task that every process could run but one runs, for
//! economy, under the task's leadership (a PostgreSQL advisory lock, or a SQLite lease).
//!
//! Safety never depends on it: what a round does is idempotent, so a standby that takes over
//! from a leader that died mid-round repeats at most some of its work.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::Database;
use crate::follow::leadership_key;

/// How often a standby asks for the leadership (each ask is a connection on PostgreSQL).
pub const STANDBY_ASK: Duration = Duration::from_secs(5);

/// Runs `round` every `every` while this process leads `name`, until `stop`; a round that
/// answers `true` (more work waits) is followed by the next at once. A standby asks again
/// every [`STANDBY_ASK`] (or `every`, if longer).
pub async fn run_while_leading<F, Fut>(
    database: &Database,
    name: &'static str,
    every: Duration,
    stop: &CancellationToken,
    mut round: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let key = leadership_key(name);
    let mut standing_by = false;
    loop {
        let leadership = match database.try_lead(key).await {
            Ok(Some(leadership)) => Some(leadership),
            Ok(None) => {
                if !standing_by {
                    tracing::info!(task = name, "another process leads this task; standing by");
                    standing_by = true;
                }
                None
            }
            Err(error) => {
                tracing::warn!(task = name, %error, "cannot check leadership; retrying");
                None
            }
        };
        let Some(mut leadership) = leadership else {
            if pause(stop, STANDBY_ASK.max(every)).await {
                return;
            }
            continue;
        };
        if standing_by {
            tracing::info!(task = name, "took over");
        }
        loop {
            let wait = if round().await { Duration::ZERO } else { every };
            if pause(stop, wait).await {
                leadership.release().await;
                return;
            }
            if !leadership.is_held().await {
                tracing::warn!(task = name, "lost the leadership");
                break;
            }
        }
    }
}

/// Waits `wait`; whether `stop` came first.
async fn pause(stop: &CancellationToken, wait: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(wait) => false,
    }
}
