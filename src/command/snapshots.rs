//! When a stream's folded state is stored beside its events.
//!
//! Loading a stream reads its latest snapshot and the events after it, so a snapshot every
//! `events` events bounds what a load replays, however long the stream's history. The snapshot
//! is written in the same transaction as the events it follows; its shape is versioned, and a
//! snapshot of another shape is ignored (the events can always rebuild the state).

/// An aggregate's rule for taking snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotPolicy {
    /// Never: the aggregate's streams stay short.
    Never,
    /// Once at least `events` events were added since the last snapshot (or since the start).
    Every {
        events: i64,
        /// The version of the state's serialized shape (see
        /// [`crate::domain::account::STATE_SCHEMA_VERSION`]).
        schema_version: i32,
    },
}

impl SnapshotPolicy {
    /// Whether a stream that reaches `version`, last snapshotted at `last_snapshot` (`None`:
    /// never), is due for a snapshot at that version.
    pub fn is_due(self, version: i64, last_snapshot: Option<i64>) -> bool {
        match self {
            SnapshotPolicy::Never => false,
            SnapshotPolicy::Every { events, .. } => version - last_snapshot.unwrap_or(0) >= events,
        }
    }

    /// The same policy taking a snapshot every `events` events instead (`Never` stays never).
    pub fn with_interval(self, events: i64) -> Self {
        match self {
            SnapshotPolicy::Never => SnapshotPolicy::Never,
            SnapshotPolicy::Every { schema_version, .. } => SnapshotPolicy::Every {
                events: events.max(1),
                schema_version,
            },
        }
    }

    /// The shape snapshots are stored in; `None` for [`SnapshotPolicy::Never`].
    pub fn schema_version(self) -> Option<i32> {
        match self {
            SnapshotPolicy::Never => None,
            SnapshotPolicy::Every { schema_version, .. } => Some(schema_version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SnapshotPolicy;

    const EVERY_3: SnapshotPolicy = SnapshotPolicy::Every {
        events: 3,
        schema_version: 7,
    };

    #[test]
    fn a_snapshot_is_due_once_enough_events_were_added_since_the_last() {
        assert!(!EVERY_3.is_due(2, None));
        assert!(EVERY_3.is_due(3, None));
        assert!(!EVERY_3.is_due(5, Some(3)));
        assert!(EVERY_3.is_due(6, Some(3)));
        // A batch of events may jump past the boundary: due all the same.
        assert!(EVERY_3.is_due(8, Some(3)));
        assert_eq!(EVERY_3.schema_version(), Some(7));
    }

    #[test]
    fn the_interval_is_a_setting_and_never_stays_never() {
        let every_5 = EVERY_3.with_interval(5);
        assert!(!every_5.is_due(4, None));
        assert!(every_5.is_due(5, None));
        assert_eq!(every_5.schema_version(), Some(7));
        assert_eq!(SnapshotPolicy::Never.with_interval(5), SnapshotPolicy::Never);
    }

    #[test]
    fn never_is_never_due() {
        assert!(!SnapshotPolicy::Never.is_due(1_000_000, None));
        assert_eq!(SnapshotPolicy::Never.schema_version(), None);
    }
}
