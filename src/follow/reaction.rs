//! Reactions: followers that act on one kind of event, one event at a time, with commands.
//!
//! The transfer process manager and the overdraft fee policy read the log the same way: pass
//! over every event but the kind they react to (told by its stream and event type, without
//! decoding it), check that this process still leads before each action, act, and move the
//! checkpoint once the batch is done. The checkpoint moves after the actions, so a crash
//! between the two delivers the events again: every action must be idempotent (the deciders
//! make them so). A parked event may be acted on again out of order.
//!
//! [`Reacting`] is that follower; a [`Reaction`] says only what it reacts to and what it does.

use std::sync::Arc;

use super::{CheckpointMove, Fence, FollowError, Follower};
use crate::db::Database;
use crate::store::RecordedEvent;

/// What a reaction reacts to, and how.
#[async_trait::async_trait]
pub trait Reaction: Send + Sync + std::fmt::Debug {
    /// The checkpoint's name, also how `GET /projections` shows it.
    fn name(&self) -> &'static str;

    /// The write database: its checkpoint, parked events and leadership live beside the log its
    /// commands append to, not with read models that may be dropped and rebuilt.
    fn database(&self) -> &Database;

    /// Whether it acts on `event`, told from the recorded event's stream and type alone.
    fn reacts_to(&self, event: &RecordedEvent) -> bool;

    /// Acts on one event it reacts to. The same event may come again (at-least-once delivery):
    /// acting twice must have the effect of acting once.
    async fn react(&self, event: &RecordedEvent) -> Result<(), FollowError>;
}

/// A [`Reaction`] as a follower of the log.
#[derive(Debug)]
pub struct Reacting<R>(pub R);

impl<R: Reaction + 'static> Reacting<R> {
    /// `reaction`, ready to be started as a follower.
    pub fn follower(reaction: R) -> Arc<dyn Follower> {
        Arc::new(Reacting(reaction))
    }
}

#[async_trait::async_trait]
impl<R: Reaction> Follower for Reacting<R> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn checkpoint_database(&self) -> &Database {
        self.0.database()
    }

    /// Small batches: each event it reacts to costs a command.
    fn batch_size(&self) -> i64 {
        100
    }

    async fn handle(
        &self,
        batch: &[RecordedEvent],
        checkpoint: CheckpointMove,
        fence: &mut Fence,
    ) -> Result<(), FollowError> {
        for event in batch.iter().filter(|event| self.0.reacts_to(event)) {
            // Still the leader? Checked before every action, not once per batch, so a standby
            // that took over finds at most one action in progress.
            fence.check().await?;
            self.0.react(event).await?;
        }
        checkpoint.record(self.0.database()).await
    }

    /// A parked event is acted on out of order as well as in order: each action stands alone.
    fn retries_out_of_order(&self) -> bool {
        true
    }

    async fn retry(&self, event: &RecordedEvent, fence: &mut Fence) -> Result<(), FollowError> {
        fence.check().await?;
        self.0.react(event).await
    }
}
