//! Reads of the event log itself: an account's audit trail, and how far the log has grown.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::{EventStore, RecordedEvent, StoreError};

/// The log as the query side reads it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EventLog {
    store: Arc<dyn EventStore>,
}

impl EventLog {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        EventLog { store }
    }

    /// Every event of one stream, as stored, in version order.
    #[tracing::instrument(skip_all, fields(stream_id = %stream_id))]
    pub async fn stream(&self, stream_id: Uuid) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_stream(stream_id, None).await
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
