//! What each follower has reached in this process, shared with the query side.
//!
//! Queries use it to wait for a `min_position` (read-your-writes) and `GET /projections` to
//! report errors; the event store uses it to wake the followers after an append.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

#[derive(Debug)]
struct Entry {
    name: &'static str,
    checkpoint: watch::Sender<i64>,
    last_error: Mutex<Option<(String, DateTime<Utc>)>>,
}

/// Shared, cheap to clone.
#[derive(Debug, Clone)]
pub struct Followers {
    entries: Arc<Vec<Entry>>,
    head: Arc<watch::Sender<i64>>,
}

/// A follower's state as this process knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerState {
    pub name: &'static str,
    pub checkpoint: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

/// A wait for a position ended with the projection still behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the read model is at position {reached}, {wanted} was requested")]
pub struct Behind {
    pub wanted: i64,
    pub reached: i64,
}

impl Followers {
    pub fn new(names: &[&'static str]) -> Self {
        let entries = names
            .iter()
            .map(|name| Entry {
                name,
                checkpoint: watch::Sender::new(0),
                last_error: Mutex::new(None),
            })
            .collect();
        Followers {
            entries: Arc::new(entries),
            head: Arc::new(watch::Sender::new(0)),
        }
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.name == name)
    }

    /// Tells the followers the log has grown to `position`.
    pub fn announce_head(&self, position: i64) {
        self.head.send_if_modified(|head| {
            let grew = position > *head;
            *head = (*head).max(position);
            grew
        });
    }

    /// A receiver that changes whenever the log is known to have grown.
    pub(crate) fn head_changes(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    pub(crate) fn record_checkpoint(&self, name: &str, position: i64) {
        if let Some(entry) = self.entry(name) {
            entry.checkpoint.send_if_modified(|checkpoint| {
                let moved = position != *checkpoint;
                *checkpoint = position;
                moved
            });
        }
    }

    pub(crate) fn record_error(&self, name: &str, error: Option<String>, at: DateTime<Utc>) {
        if let Some(entry) = self.entry(name) {
            let mut last_error = entry
                .last_error
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *last_error = error.map(|error| (error, at));
        }
    }

    /// The checkpoint `name` has reached in this process (0 for an unknown name).
    pub fn checkpoint(&self, name: &str) -> i64 {
        self.entry(name).map_or(0, |entry| *entry.checkpoint.borrow())
    }

    pub fn states(&self) -> Vec<FollowerState> {
        self.entries
            .iter()
            .map(|entry| {
                let last_error = entry
                    .last_error
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .clone();
                FollowerState {
                    name: entry.name,
                    checkpoint: *entry.checkpoint.borrow(),
                    last_error: last_error.as_ref().map(|(error, _)| error.clone()),
                    last_error_at: last_error.map(|(_, at)| at),
                }
            })
            .collect()
    }

    /// Waits until every follower in `names` has reached `position`, for at most `timeout`.
    pub async fn wait_for(&self, names: &[&str], position: i64, timeout: Duration) -> Result<(), Behind> {
        let wait_all = async {
            for name in names {
                if let Some(entry) = self.entry(name) {
                    let mut checkpoint = entry.checkpoint.subscribe();
                    // `wait_for` only fails if the sender is gone, which `self` prevents.
                    let _ = checkpoint.wait_for(|reached| *reached >= position).await;
                }
            }
        };
        if tokio::time::timeout(timeout, wait_all).await.is_ok() {
            return Ok(());
        }
        let reached = names.iter().map(|name| self.checkpoint(name)).min().unwrap_or(0);
        Err(Behind {
            wanted: position,
            reached,
        })
    }
}
