//! Time travel on the write model: an account folded from its events up to an instant.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::Decider;
use crate::domain::account::{Account, AccountDecider, AccountEvent, AccountState};
use crate::domain::ids::AccountId;
use crate::store::{EventStore, StoreError, codec};

/// Replays the event log; no read model involved.
#[derive(Debug, Clone)]
pub struct AccountHistory {
    log: Arc<dyn EventStore>,
}

/// The account at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // built once per request and matched right away
pub enum PointInTime {
    /// No such account, at any time.
    Unknown,
    /// The account exists but was opened after the instant.
    NotYetOpened,
    Opened {
        account: Account,
        /// The stream version and global position of the last event at or before the instant.
        version: i64,
        position: i64,
    },
}

impl AccountHistory {
    pub fn new(log: Arc<dyn EventStore>) -> Self {
        AccountHistory { log }
    }

    /// `state = fold(evolve, initial, events where occurred_at <= at)`.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn at(&self, account_id: AccountId, at: DateTime<Utc>) -> Result<PointInTime, StoreError> {
        let recorded = self.log.read_stream(account_id.as_uuid(), Some(at)).await?;
        let events = codec::decode_all::<AccountEvent>(&recorded)?;
        if let AccountState::Opened(account) = AccountDecider::fold(&events) {
            let last = recorded.last();
            return Ok(PointInTime::Opened {
                account,
                version: last.map_or(0, |event| event.stream_version),
                position: last.map_or(0, |event| event.global_position),
            });
        }
        let exists = !self
            .log
            .read_stream_after(account_id.as_uuid(), 0)
            .await?
            .is_empty();
        Ok(if exists {
            PointInTime::NotYetOpened
        } else {
            PointInTime::Unknown
        })
    }
}
