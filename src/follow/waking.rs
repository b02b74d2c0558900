//! The event store as the followers of this process see it: every append wakes them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::follow::Followers;
use crate::store::{
    Append, Appended, EventStore, Latest, RecordedEvent, RecordedResponse, Snapshot, StoreError,
    UndecodedEvent,
};

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
    async fn append(&self, append: Append) -> Result<Appended, StoreError> {
        let appended = self.inner.append(append).await?;
        self.followers.announce_head(appended.last_position);
        Ok(appended)
    }

    async fn load_latest(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        schema_version: i32,
    ) -> Result<Latest, StoreError> {
        self.inner
            .load_latest(stream_type, stream_id, schema_version)
            .await
    }

    async fn read_movement(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        transaction_id: Uuid,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_movement(stream_type, stream_id, transaction_id)
            .await
    }

    async fn recorded_response(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<RecordedResponse>, StoreError> {
        self.inner.recorded_response(scope, key).await
    }

    async fn forget_responses(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.forget_responses(before).await
    }

    async fn read_stream(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream_type, stream_id, until).await
    }

    async fn read_stream_after(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        version: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_stream_after(stream_type, stream_id, version)
            .await
    }

    async fn read_stream_page(
        &self,
        stream_type: &str,
        stream_id: Uuid,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner
            .read_stream_page(stream_type, stream_id, after, limit)
            .await
    }

    async fn load_snapshot(
        &self,
        stream_type: &str,
        stream_id: Uuid,
    ) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(stream_type, stream_id).await
    }

    async fn save_snapshot(&self, snapshot: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(snapshot).await
    }

    async fn read_all(&self, after: i64, limit: i64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(after, limit).await
    }

    async fn read_replay(
        &self,
        stream_type: &str,
        after: i64,
        up_to: i64,
    ) -> Result<Vec<UndecodedEvent>, StoreError> {
        self.inner.read_replay(stream_type, after, up_to).await
    }

    async fn head_position(&self) -> Result<i64, StoreError> {
        self.inner.head_position().await
    }
}
