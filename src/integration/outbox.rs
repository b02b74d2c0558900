//! The webhook outbox: a follower of the log that turns each account event into the messages
//! its subscriptions are to receive.
//!
//! For every batch it locks its own checkpoint, reads the subscriptions, maps each account
//! event to its integration event ([`IntegrationEvent::from_account_event`]) and writes one row
//! of `webhook_messages` per subscription that wants that type and started before the event,
//! then moves the checkpoint, all in one transaction: each event is enqueued exactly once per
//! subscription, whatever crashes. Sending is another task's work ([`super::delivery`]), so a
//! slow or dead receiver never holds up the log's followers.
//!
//! Locking the checkpoint before reading the subscriptions is what makes "the events after it
//! was made" exact: a subscription being made locks the same row before it reads the head of
//! the log ([`super::subscriptions::Subscriptions::create`]), so a batch either committed
//! before (its events are at or below that head) or reads the subscriptions after it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, Transaction, query};
use crate::domain::account::{self, AccountEvent};
use crate::follow::{CheckpointMove, Fence, FollowError, Follower, lock_checkpoint};
use crate::integration::contract::IntegrationEvent;
use crate::integration::subscriptions::{Subscription, SubscriptionError, Subscriptions};
use crate::store::{RecordedEvent, StoreError, codec};

/// The outbox's checkpoint and leadership.
pub const NAME: &str = "webhook_outbox";

/// Enqueues the messages of each batch of the log (see the module docs).
#[derive(Debug, Clone)]
pub struct WebhookOutbox {
    /// The log's database, where subscriptions, messages and this checkpoint live.
    database: Database,
}

impl WebhookOutbox {
    pub fn new(database: Database) -> Self {
        WebhookOutbox { database }
    }
}

#[async_trait::async_trait]
impl Follower for WebhookOutbox {
    fn name(&self) -> &'static str {
        NAME
    }

    fn checkpoint_database(&self) -> &Database {
        &self.database
    }

    async fn handle(
        &self,
        batch: &[RecordedEvent],
        checkpoint: CheckpointMove,
        fence: &mut Fence,
    ) -> Result<(), FollowError> {
        fence.check().await?;
        let mut tx = self.database.begin_write().await?;
        if lock_checkpoint(&mut tx, NAME).await? != Some(checkpoint.from) {
            return Err(FollowError::CheckpointMoved);
        }
        let subscriptions = Subscriptions::list_in(&mut tx).await.map_err(failed)?;
        if !subscriptions.is_empty() {
            let now = Utc::now();
            for recorded in batch {
                for (subscription, published) in messages(&subscriptions, recorded)? {
                    enqueue(&mut tx, subscription.webhook_id, &published, now, Enqueue::Once).await?;
                }
            }
        }
        checkpoint.commit_with(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The messages `recorded` makes: its integration event, for each subscription that wants it.
fn messages<'s>(
    subscriptions: &'s [Subscription],
    recorded: &RecordedEvent,
) -> Result<Vec<(&'s Subscription, IntegrationEvent)>, FollowError> {
    let wanting: Vec<&Subscription> = subscriptions
        .iter()
        .filter(|subscription| subscription.starts_after < recorded.global_position)
        .collect();
    if wanting.is_empty() {
        return Ok(Vec::new());
    }
    let Some(published) = publish(recorded)? else {
        return Ok(Vec::new());
    };
    Ok(wanting
        .into_iter()
        .filter(|subscription| subscription.event_types.contains(&published.event_type))
        .map(|subscription| (subscription, published.clone()))
        .collect())
}

/// The integration event `recorded` publishes, if any: only account events do, and not all
/// of them (see [`IntegrationEvent::from_account_event`]).
pub(super) fn publish(recorded: &RecordedEvent) -> Result<Option<IntegrationEvent>, StoreError> {
    if recorded.stream_type != account::STREAM_TYPE {
        return Ok(None);
    }
    let event: AccountEvent = codec::decode(recorded)?;
    Ok(IntegrationEvent::from_account_event(recorded, &event))
}

/// What [`enqueue`] does with a message the subscription still has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Enqueue {
    /// Leaves it as it is: the outbox enqueues each event once.
    Once,
    /// Sends it again from `now`, attempts counted from zero, parked or not, as a new
    /// generation (a batch that had it in flight records nothing for it): a replay.
    Again,
}

/// Writes the message of `published` for the subscription `webhook_id`, due at `now`.
pub(super) async fn enqueue(
    tx: &mut Transaction,
    webhook_id: Uuid,
    published: &IntegrationEvent,
    now: DateTime<Utc>,
    mode: Enqueue,
) -> Result<(), sqlx::Error> {
    let on_conflict = match mode {
        Enqueue::Once => "DO NOTHING",
        Enqueue::Again => {
            "DO UPDATE SET attempts = 0, next_attempt_at = excluded.next_attempt_at, \
             last_error = NULL, parked_at = NULL, generation = webhook_messages.generation + 1"
        }
    };
    query(format!(
        "INSERT INTO webhook_messages \
         (webhook_id, position, account_id, event_id, event_type, body, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (webhook_id, position) {on_conflict}"
    ))
    .bind(webhook_id)
    .bind(published.source.position)
    .bind(published.source.account_id)
    .bind(published.source.event_id)
    .bind(published.event_type.as_str())
    .bind(published.to_body())
    .bind(now)
    .execute(tx)
    .await?;
    Ok(())
}

fn failed(error: SubscriptionError) -> FollowError {
    match error {
        SubscriptionError::Database(error) => FollowError::Database(error),
        error => FollowError::Failed(Box::new(error)),
    }
}
