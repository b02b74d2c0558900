//! A stream folded from the log: `state = fold(evolve, snapshot, events after it)`.

use super::{Aggregate, SnapshotPolicy};
use crate::store::{EventStore, RecordedEvent, StoreError, codec};
use chrono::{DateTime, Utc};

/// A stream folded from its events, with the version and position it reflects.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<S> {
    pub state: S,
    pub version: i64,
    pub position: i64,
    /// The business time of the last event, if any.
    pub last_occurred_at: Option<DateTime<Utc>>,
    /// The version of the latest snapshot known (`None`: none was taken).
    pub snapshot_version: Option<i64>,
}

impl<S> Loaded<S> {
    /// The stream before its first event.
    fn initial<A: Aggregate<State = S>>() -> Self {
        Loaded {
            state: A::initial_state(),
            version: 0,
            position: 0,
            last_occurred_at: None,
            snapshot_version: None,
        }
    }

    /// This state with `recorded` (the events after it, in order) folded in.
    fn fold<A: Aggregate<State = S>>(self, recorded: &[RecordedEvent]) -> Result<Self, StoreError> {
        let events = codec::decode_all::<A::Event>(recorded)?;
        let last = recorded.last();
        Ok(Loaded {
            state: events.iter().fold(self.state, A::evolve),
            version: last.map_or(self.version, |event| event.stream_version),
            position: last.map_or(self.position, |event| event.global_position),
            last_occurred_at: events.last().map(A::occurred_at).or(self.last_occurred_at),
            snapshot_version: self.snapshot_version,
        })
    }

    /// This state after a command appended `events`, the last at `version` and `position`,
    /// with a snapshot if `snapshots` made one due (as the append wrote it).
    pub(super) fn after<A: Aggregate<State = S>>(
        self,
        events: &[A::Event],
        version: i64,
        position: i64,
        snapshots: SnapshotPolicy,
    ) -> Self {
        let snapshot_taken = snapshots.is_due(version, self.snapshot_version);
        Loaded {
            state: events.iter().fold(self.state, A::evolve),
            version,
            position,
            last_occurred_at: events.last().map(A::occurred_at).or(self.last_occurred_at),
            snapshot_version: if snapshot_taken {
                Some(version)
            } else {
                self.snapshot_version
            },
        }
    }
}

/// The stream now: its latest snapshot plus the events after it (one read), or the whole
/// stream when there is no usable snapshot. Equal to [`replay`] by construction.
pub(super) async fn load<A: Aggregate>(
    store: &dyn EventStore,
    id: A::Id,
) -> Result<Loaded<A::State>, StoreError> {
    let stream_id = A::stream_id(id);
    let Some(schema_version) = A::SNAPSHOTS.schema_version() else {
        return replay::<A>(store, id).await;
    };
    let latest = store
        .load_latest(A::STREAM_TYPE, stream_id, schema_version)
        .await?;
    let start = match latest.snapshot {
        None => Loaded::initial::<A>(),
        Some(snapshot) => match serde_json::from_value::<A::State>(snapshot.state) {
            Ok(state) => Loaded {
                last_occurred_at: A::last_occurred_at(&state),
                state,
                version: snapshot.version,
                position: snapshot.position,
                snapshot_version: Some(snapshot.version),
            },
            Err(error) => {
                tracing::warn!(stream_type = A::STREAM_TYPE, %stream_id, %error, "ignoring an unreadable snapshot");
                return replay::<A>(store, id).await;
            }
        },
    };
    start.fold::<A>(&latest.events)
}

/// The stream folded from its first event, ignoring snapshots.
pub(super) async fn replay<A: Aggregate>(
    store: &dyn EventStore,
    id: A::Id,
) -> Result<Loaded<A::State>, StoreError> {
    let recorded = store.read_stream(A::STREAM_TYPE, A::stream_id(id), None).await?;
    Loaded::initial::<A>().fold::<A>(&recorded)
}
