//! Time travel on the write model: an account folded from its events up to an instant.
//!
//! The fold starts from the account's snapshot when that snapshot lies at or before the
//! instant, and replays only the events after it; otherwise it replays the stream from the
//! start. A stream keeps one snapshot (its latest), so recent instants are cheap and instants
//! before the latest snapshot cost a replay up to them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::Decider;
use crate::domain::account::{self, Account, AccountDecider, AccountEvent, AccountState};
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
        /// How the state was folded.
        folded: Folded,
    },
}

/// How a state at an instant was folded: from the aggregate snapshot at a stream version (or
/// from the first event), then `events` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Folded {
    pub from_snapshot_version: Option<i64>,
    pub events: usize,
}

/// Where a fold starts: nothing, or a snapshot's state with its version and position.
#[derive(Debug)]
struct Start {
    state: AccountState,
    version: i64,
    position: i64,
    from_snapshot: bool,
}

impl AccountHistory {
    pub fn new(log: Arc<dyn EventStore>) -> Self {
        AccountHistory { log }
    }

    /// `state = fold(evolve, initial, events where occurred_at <= at)`, started from the
    /// snapshot when it is no later than `at`: business time never decreases along a stream,
    /// so every event the snapshot folded occurred at or before its state's `updated_at`.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn at(&self, account_id: AccountId, at: DateTime<Utc>) -> Result<PointInTime, StoreError> {
        let stream_id = account_id.as_uuid();
        let (start, recorded) = match self.snapshot_at_or_before(stream_id, at).await? {
            Some(start) => {
                let mut after = self
                    .log
                    .read_stream_after(account::STREAM_TYPE, stream_id, start.version)
                    .await?;
                after.retain(|event| event.occurred_at <= at);
                (start, after)
            }
            None => {
                let start = Start {
                    state: AccountState::NotOpened,
                    version: 0,
                    position: 0,
                    from_snapshot: false,
                };
                let events = self
                    .log
                    .read_stream(account::STREAM_TYPE, stream_id, Some(at))
                    .await?;
                (start, events)
            }
        };
        let events = codec::decode_all::<AccountEvent>(&recorded)?;
        let folded = Folded {
            from_snapshot_version: start.from_snapshot.then_some(start.version),
            events: events.len(),
        };
        if let AccountState::Opened(account) = events.iter().fold(start.state, AccountDecider::evolve) {
            let last = recorded.last();
            return Ok(PointInTime::Opened {
                account,
                version: last.map_or(start.version, |event| event.stream_version),
                position: last.map_or(start.position, |event| event.global_position),
                folded,
            });
        }
        let exists = !self
            .log
            .read_stream_page(account::STREAM_TYPE, stream_id, 0, 1)
            .await?
            .is_empty();
        Ok(if exists {
            PointInTime::NotYetOpened
        } else {
            PointInTime::Unknown
        })
    }

    /// The stream's snapshot, if it is of today's shape and its state's last event occurred at
    /// or before `at`.
    async fn snapshot_at_or_before(
        &self,
        stream_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Option<Start>, StoreError> {
        let Some(snapshot) = self.log.load_snapshot(account::STREAM_TYPE, stream_id).await? else {
            return Ok(None);
        };
        if snapshot.schema_version != account::STATE_SCHEMA_VERSION {
            return Ok(None);
        }
        let state = match serde_json::from_value::<AccountState>(snapshot.state) {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(%stream_id, %error, "ignoring an unreadable snapshot");
                return Ok(None);
            }
        };
        Ok(match &state {
            AccountState::Opened(account) if account.updated_at <= at => Some(Start {
                state,
                version: snapshot.version,
                position: snapshot.position,
                from_snapshot: true,
            }),
            _ => None,
        })
    }
}
