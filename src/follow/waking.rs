//! The event store as the followers of this process see it: every append wakes them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::follow::Followers;
use crate::store::{Appended, EventStore, NewEvent, RecordedEvent, Snapshot, StoreError};

/// An [`EventStore`] that wakes the followers after every successful append, so read models
/// and process managers follow writes within milliseconds instead of a polling interval.
#[derive(Debug)]
pub struct WakingStore {
    inner: Arc<dyn EventStore>,
    followers: Followers,
}

impl WakingStore {
    pub fn new(inner: Arc<dyn EventStore>, followers: Followers) -> Self {
        WakingStore { inner, followers }
    }
}

#[async_trait::async_trait]
impl EventStore for WakingStore {
    async fn append(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        expected_version: i64,
        events: Vec<NewEvent>,
    ) -> Result<Appended, StoreError> {
        let appended = self
            .inner
            .append(stream_type, stream_id, expected_version, events)
            .await?;
        self.followers.announce_head(appended.last_position);
        Ok(appended)
    }

    async fn read_stream(
        &self,
        stream_id: Uuid,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_id, until).await
    }

    async fn read_stream_after(
        &self,
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream_after(stream_id, version).await
    }

    async fn load_snapshot(&self, stream_id: Uuid) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream_id).await
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        self.inner.head_position().await
    }
}
