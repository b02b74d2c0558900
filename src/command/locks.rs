//! In-process serialization of commands per stream.
//!
//! Two requests for the same account in this process queue on one mutex instead of both
//! reading version `n` and one of them losing the append race. A fixed set of stripes (hashed
//! from the stream id) keeps memory bounded however many accounts exist; two accounts that
//! share a stripe merely queue behind each other. The hash is keyed per process, so clients
//! that choose their own account ids cannot aim many accounts at one stripe. A command holds
//! exactly one stripe, so there is no lock ordering to get wrong.

use std::hash::{BuildHasher, RandomState};

use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

const STRIPES: usize = 1024;

#[derive(Debug)]
pub struct StreamLocks {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

impl Default for StreamLocks {
    fn default() -> Self {
        StreamLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl StreamLocks {
    /// Waits for, then holds, the lock of `stream_id` until the guard drops.
    pub async fn lock(&self, stream_id: Uuid) -> MutexGuard<'_, ()> {
        let stripe = (self.hasher.hash_one(stream_id) % STRIPES as u64) as usize;
        self.stripes[stripe].lock().await
    }
}
