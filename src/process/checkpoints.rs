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
//! It signs only a head that extends the newest checkpoint: the links from it to the head are
//! recomputed first (at most about `events` of them), so a log rewritten and relinked before
//! that checkpoint, or cut short of it, is never signed again with the service's key (it logs
//! an ERROR instead). Checkpoints deleted from the table are noticed as long as the process
//! that signed them runs (it remembers its newest); after a restart the table is what it
//! trusts, which is why copies of `GET /chain` kept elsewhere matter.
//!
//! One process signs at a time (the leadership of [`NAME`]); should two sign the same head,
//! the first stored stays (the table's key is the position).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::db::Database;
use crate::process::led::run_while_leading;
use crate::store::StoreError;
use crate::store::chain::checkpoint::{self, ChainSigner, Checkpoint};
use crate::store::chain::{Break, GENESIS, Link, first_break_between};

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
    /// The newest checkpoint this process signed: its position and link.
    signed: Arc<std::sync::Mutex<Option<(i64, Link)>>>,
}

/// Why the signer refuses to sign the head.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored checkpoint at position {position} is not hex")]
    Unreadable { position: i64 },
    #[error("the log is not what was signed at position {signed}: {broken}; not signing its head")]
    Tampered { signed: i64, broken: Break },
    #[error(
        "the newest checkpoint stored is at position {stored}, but this process signed position {signed}: checkpoints were deleted; not signing"
    )]
    CheckpointsDeleted { stored: i64, signed: i64 },
}

impl From<sqlx::Error> for SigningError {
    fn from(error: sqlx::Error) -> Self {
        SigningError::Store(error.into())
    }
}

impl CheckpointSigner {
    pub fn new(database: Database, signer: ChainSigner, clock: Arc<dyn Clock>, cadence: Cadence) -> Self {
        CheckpointSigner {
            database,
            signer,
            clock,
            cadence,
            signed: Arc::default(),
        }
    }

    /// Looks every `every` while this process leads the signing, until `stop`.
    pub fn start(self, every: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let this = &self;
            run_while_leading(&self.database, NAME, every, &stop, move || async move {
                match this.sign_if_due().await {
                    Ok(_) => {}
                    Err(error @ SigningError::Store(_)) => {
                        tracing::warn!(task = NAME, %error, "cannot sign the chain's head; trying again");
                    }
                    Err(error) => tracing::error!(task = NAME, %error, "the hash chain does not hold"),
                }
                false
            })
            .await;
        })
    }

    /// Signs and stores the chain's head if the cadence says so; answers the new checkpoint.
    pub async fn sign_if_due(&self) -> Result<Option<Checkpoint>, SigningError> {
        let Some((position, link)) = checkpoint::linked_head(&self.database).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let last = checkpoint::last(&self.database).await?;
        let due = match &last {
            None => true,
            Some(last) if last.position >= position => last.position > position,
            Some(last) => {
                position - last.position >= self.cadence.events
                    || (now - last.signed_at).to_std().unwrap_or_default() >= self.cadence.interval
            }
        };
        if !due {
            return Ok(None);
        }
        // What the head must extend: the newest checkpoint stored (or the genesis).
        let from = match &last {
            None => (0, GENESIS),
            Some(last) => (
                last.position,
                Link::from_hex(&last.hash).ok_or(SigningError::Unreadable {
                    position: last.position,
                })?,
            ),
        };
        let remembered = *self
            .signed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((signed, _)) = remembered.filter(|(signed, _)| *signed > from.0) {
            return Err(SigningError::CheckpointsDeleted {
                stored: from.0,
                signed,
            });
        }
        if position < from.0 {
            return Err(SigningError::Tampered {
                signed: from.0,
                broken: Break::Missing {
                    position: position + 1,
                },
            });
        }
        if let Some(broken) = first_break_between(&self.database, from, position).await? {
            return Err(SigningError::Tampered {
                signed: from.0,
                broken,
            });
        }
        let signed = self.signer.sign(position, &link, now);
        checkpoint::record(&self.database, &signed).await?;
        *self
            .signed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((position, link));
        tracing::debug!(task = NAME, position, "signed the chain's head");
        Ok(Some(signed))
    }
}
