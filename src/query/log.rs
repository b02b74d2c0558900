//! Reads of the event log itself: an account's audit trail, the whole log in position order
//! (the feed other services follow), and how far the log has grown.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::Database;
use crate::domain::account::{self, AccountEvent};
use crate::domain::ids::{AccountId, OwnerId};
use crate::projection::reads::next_cursor;
use crate::store::chain::checkpoint::{self, Checkpoint};
use crate::store::chain::{LinkedEvent, with_links};
use crate::store::{EventStore, StoreError, codec};

/// A page of one stream's events.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPage {
    /// In version order, oldest first, with their links in the hash chain.
    pub events: Vec<LinkedEvent>,
    /// Present when there may be more: the stream version of the last event.
    pub next: Option<i64>,
}

/// A page of the whole log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    /// In position order, oldest first, with their links in the hash chain.
    pub events: Vec<LinkedEvent>,
    /// Present when more events followed when this page was read: the position of the last
    /// event, to read the next page after.
    pub next: Option<i64>,
}

/// A page of the chain's signed checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointPage {
    /// In position order, oldest first.
    pub checkpoints: Vec<Checkpoint>,
    /// Present when more followed: the position of the last, to read the next page after.
    pub next: Option<i64>,
}

/// The log as the query side reads it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    store: Arc<dyn EventStore>,
    /// The write database, where the links are read.
    database: Database,
}

impl EventLog {
    pub fn new(store: Arc<dyn EventStore>, database: Database) -> Self {
        EventLog { store, database }
    }

    /// One page of an account's events, as stored, oldest first: up to `limit` events after
    /// stream version `after` (from the start when `None`). `None` when no account stream has
    /// that id.
    #[tracing::instrument(skip_all, fields(stream_id = %stream_id))]
    pub async fn page(
        &self,
        stream_id: Uuid,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Option<EventPage>, StoreError> {
        // One event more than asked tells whether another page follows.
        let mut events = self
            .store
            .read_stream_page(account::STREAM_TYPE, stream_id, after.unwrap_or(0), limit + 1)
            .await?;
        if events.is_empty() {
            // An empty page after a cursor may still be the end of an existing stream.
            let exists = after.is_some() && self.exists(stream_id).await?;
            if !exists {
                return Ok(None);
            }
        }
        let next = next_cursor(&mut events, limit, |event| event.stream_version);
        let events = with_links(&self.database, events).await?;
        Ok(Some(EventPage { events, next }))
    }

    /// One page of the whole log, oldest first: up to `limit` events after global position
    /// `after`. Positions are gap-free and become visible in order (see [`crate::store`]), so
    /// a reader that asks again after the last position it was given never misses an event.
    #[tracing::instrument(skip_all, fields(after, limit))]
    pub async fn page_after(&self, after: i64, limit: i64) -> Result<LogPage, StoreError> {
        // One event more than asked tells whether another page follows.
        let mut events = self.store.read_all(after, limit + 1).await?;
        let next = next_cursor(&mut events, limit, |event| event.global_position);
        let events = with_links(&self.database, events).await?;
        Ok(LogPage { events, next })
    }

    /// Up to `limit` events after global position `after`, in position order, with their links.
    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<LinkedEvent>, StoreError> {
        let events = self.store.read_all(after, limit).await?;
        Ok(with_links(&self.database, events).await?)
    }

    /// Whether an account stream has any event.
    async fn exists(&self, stream_id: Uuid) -> Result<bool, StoreError> {
        Ok(!self
            .store
            .read_stream_page(account::STREAM_TYPE, stream_id, 0, 1)
            .await?
            .is_empty())
    }

    /// Who owns an account, as its first event (`AccountOpened`) says.
    pub async fn owner_of(&self, account_id: AccountId) -> Result<Option<OwnerId>, StoreError> {
        let first = self
            .store
            .read_stream_page(account::STREAM_TYPE, account_id.as_uuid(), 0, 1)
            .await?;
        let Some(first) = first.first() else {
            return Ok(None);
        };
        Ok(match codec::decode::<AccountEvent>(first)? {
            AccountEvent::AccountOpened { owner_id, .. } => Some(owner_id),
            _ => None,
        })
    }

    /// One page of the chain's signed checkpoints, oldest first: up to `limit` after position
    /// `after`.
    pub async fn checkpoints(&self, after: i64, limit: i64) -> Result<CheckpointPage, StoreError> {
        let mut checkpoints = checkpoint::page(&self.database, after, limit + 1).await?;
        let next = next_cursor(&mut checkpoints, limit, |checkpoint| checkpoint.position);
        Ok(CheckpointPage { checkpoints, next })
    }

    /// The newest signed checkpoint, if any.
    pub async fn newest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        Ok(checkpoint::last(&self.database).await?)
    }

    /// The position of the last event in the log (0 when empty).
    pub async fn head(&self) -> Result<i64, StoreError> {
        self.store.head_position().await
    }

    /// When the first event after `position` was stored: how long a follower at `position`
    /// has kept it waiting.
    pub async fn recorded_at_after(&self, position: i64) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next = self.store.read_all(position, 1).await?;
        Ok(next.first().map(|event| event.recorded_at))
    }
}
