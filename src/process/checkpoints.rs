//! The checkpoint signer: signs the hash chain's head now and then, so that a rewrite of the
//! log by whoever can write the database (but does not hold the key) shows.
//!
//! Every `every` (a second) it reads the chain's head as committed and the newest checkpoint;
//! when the head has moved at least `events` positions past it, or has moved at all and
//! `interval` has passed since it was signed, it signs the head
//! ([`ChainSigner::sign`](crate::store::chain::checkpoint::ChainSigner::sign)) and stores the
//! checkpoint. So a checkpoint comes at most every `events` events or `interval`, whichever
//! comes first, and none while nothing is appended. Off the write path: the group commit
//! never waits for a signature.
//!
//! One process signs at a time (the leadership of [`NAME`]); should two sign the same head,
//! the first stored stays (the table's key is the position).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::db::Database;
use crate::process::led::run_while_leading;
use crate::store::chain::checkpoint::{self, ChainSigner, Checkpoint};

/// The name of the signer's leadership.
pub const NAME: &str = "chain_checkpoints";

/// When to sign: at most every `events` events or `interval`, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub events: i64,
    pub interval: Duration,
}

/// Signs checkpoints of the chain's head.
#[derive(Debug, Clone)]
pub struct CheckpointSigner {
    /// The write database: the log, its checkpoints and the leadership.
    database: Database,
    signer: ChainSigner,
    clock: Arc<dyn Clock>,
    cadence: Cadence,
}

impl CheckpointSigner {
    pub fn new(database: Database, signer: ChainSigner, clock: Arc<dyn Clock>, cadence: Cadence) -> Self {
        CheckpointSigner {
            database,
            signer,
            clock,
            cadence,
        }
    }

    /// Looks every `every` while this process leads the signing, until `stop`.
    pub fn start(self, every: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let this = &self;
            run_while_leading(&self.database, NAME, every, &stop, move || async move {
                if let Err(error) = this.sign_if_due().await {
                    tracing::warn!(task = NAME, %error, "cannot sign the chain's head; trying again");
                }
                false
            })
            .await;
        })
    }

    /// Signs and stores the chain's head if the cadence says so; answers the new checkpoint.
    pub async fn sign_if_due(&self) -> Result<Option<Checkpoint>, sqlx::Error> {
        let Some((position, link)) = checkpoint::linked_head(&self.database).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let due = match checkpoint::last(&self.database).await? {
            None => true,
            Some(last) if last.position >= position => false,
            Some(last) => {
                position - last.position >= self.cadence.events
                    || (now - last.signed_at).to_std().unwrap_or_default() >= self.cadence.interval
            }
        };
        if !due {
            return Ok(None);
        }
        let signed = self.signer.sign(position, &link, now);
        checkpoint::record(&self.database, &signed).await?;
        tracing::debug!(task = NAME, position, "signed the chain's head");
        Ok(Some(signed))
    }
}
