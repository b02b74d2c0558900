//! In-process serialization of commands per stream.
//!
//! Two requests for the same account in this process queue on one mutex instead of both
//! reading version `n` and one of them losing the append race. A fixed set of stripes (hashed
//! from the stream id) keeps memory bounded however many accounts exist; two accounts that
//! share a stripe merely queue behind each other. A command holds exactly one stripe, so there
//! is no lock ordering to get wrong.

use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

const STRIPES: usize = 1024;

#[derive(Debug)]
pub struct StreamLocks {
    stripes: Box<[Mutex<()>]>,
}

impl Default for StreamLocks {
    fn default() -> Self {
        StreamLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        }
    }
}

impl StreamLocks {
    /// Waits for, then holds, the lock of `stream_id` until the guard drops.
    pub async fn lock(&self, stream_id: Uuid) -> MutexGuard<'_, ()> {
        // The low bits of a UUID (v4 or v7) are random, so a modulo spreads streams evenly.
        let stripe = (stream_id.as_u128() % STRIPES as u128) as usize;
        self.stripes[stripe].lock().await
    }
}
