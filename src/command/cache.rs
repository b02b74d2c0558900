//! The folded state of recently used streams, kept in memory between commands.
//!
//! Loading a stream costs a read of its snapshot and the events after it; a command on a
//! stream this process has just written needs neither. The cache is bounded (least recently
//! used streams are evicted first) and is never the truth: every append still states the
//! version it expects, so a state that another process has moved past makes the append
//! conflict, the entry is forgotten, and the command is decided again on fresh state.

use std::hash::Hash;

use moka::sync::Cache;

/// How many streams' states are kept. An account's entry is a few hundred bytes (the state
/// holds no history beyond today's withdrawals and the account's transfers).
const CAPACITY: u64 = 100_000;

/// Folded states `V` by stream id `K`.
#[derive(Debug, Clone)]
pub struct StateCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    streams: Cache<K, V>,
}

impl<K, V> Default for StateCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        StateCache {
            streams: Cache::new(CAPACITY),
        }
    }
}

impl<K, V> StateCache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn get(&self, id: &K) -> Option<V> {
        self.streams.get(id)
    }

    pub fn insert(&self, id: K, state: V) {
        self.streams.insert(id, state);
    }

    pub fn forget(&self, id: &K) {
        self.streams.invalidate(id);
    }
}
