//! The webhook subscriptions: who wants which integration events, where, signed with what.
//!
//! Operators manage them over HTTP (`/webhooks`). A subscription is sent the events appended
//! after it was made (`starts_after`, the head of the log when it was made); its secret is
//! generated here and shown once, in the answer that creates it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, Stored, Transaction, query};
use crate::follow::{load_checkpoint, lock_checkpoint, read_checkpoint};
use crate::integration::contract::IntegrationEventType;
use crate::integration::destination::Destination;
use crate::integration::outbox::NAME as OUTBOX;
use crate::integration::replay::Replay;
use crate::integration::secrets::{StoredSecret, StoredSecretError};
use crate::integration::signing::{SecretError, WebhookSecret};
use crate::privacy::MasterKeys;

const COLUMNS: &str = "webhook_id, url, event_types, description, created_at, starts_after";
const READ: &str = "SELECT webhook_id, url, event_types, description, created_at, starts_after, \
    replay_next, replay_until FROM webhook_subscriptions";

/// How many attempts of each subscription `GET /webhooks/{id}/deliveries` can show: the
/// sender deletes older ones as it records new ones.
pub const ATTEMPTS_KEPT: i64 = 1_000;

/// A subscription as it is shown (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub webhook_id: Uuid,
    pub url: String,
    /// In name order.
    pub event_types: Vec<IntegrationEventType>,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The log position it was made at: it is sent the events after it.
    pub starts_after: i64,
    /// The replay under way, if any: the positions still to enqueue again.
    pub replay: Option<Replay>,
}

/// What a subscription has still to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, sqlx::FromRow)]
pub struct Backlog {
    /// Messages not yet delivered, parked ones included.
    pub waiting: i64,
    /// Messages whose attempts ran out.
    pub parked: i64,
    /// The log position of the oldest message not yet delivered.
    pub oldest: Option<i64>,
}

/// What every subscription has still to receive, and where the outbox stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlogs {
    /// The outbox's checkpoint: the events after it are not enqueued yet.
    pub outbox_at: i64,
    each: BTreeMap<Uuid, Backlog>,
}

impl Backlogs {
    /// The backlog of `webhook_id` (empty when it has none).
    pub fn of(&self, webhook_id: Uuid) -> Backlog {
        self.each.get(&webhook_id).copied().unwrap_or_default()
    }

    /// How many events of the log `subscription` is behind the head (at `head`): from the
    /// last position up to which it has received everything, which is below its oldest
    /// message not yet delivered and at most where the outbox stands (the events after it are
    /// not enqueued yet), but never before the subscription began. 0 when it has everything.
    pub fn lag_events(&self, subscription: &Subscription, head: i64) -> i64 {
        let enqueued = self.outbox_at.max(subscription.starts_after);
        let received = self
            .of(subscription.webhook_id)
            .oldest
            .map_or(enqueued, |oldest| (oldest - 1).min(enqueued));
        (head - received).max(0)
    }
}

/// One attempt to deliver a message, as the sender recorded it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryAttempt {
    pub position: i64,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub account_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub event_id: Uuid,
    pub event_type: String,
    /// 1 for the first attempt of the message (since it was enqueued or retried).
    pub attempt: i32,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub attempted_at: DateTime<Utc>,
    /// `delivered`, `failed` or `parked` ([`AttemptOutcome`](super::delivery::AttemptOutcome)).
    pub outcome: String,
    /// The status the receiver answered, if it answered.
    pub status: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// A message whose attempts ran out.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ParkedMessage {
    pub position: i64,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub account_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub event_id: Uuid,
    pub event_type: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub parked_at: DateTime<Utc>,
}

/// What a new subscription asks for, checked.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub destination: Destination,
    pub event_types: BTreeSet<IntegrationEventType>,
    pub description: Option<String>,
}

/// The `Idempotency-Key` a subscription is made with, scoped to its caller, and a digest of
/// the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    pub key: String,
    pub fingerprint: String,
}

/// What [`Subscriptions::create`] did.
#[derive(Debug)]
pub enum Created {
    /// A new subscription, with its secret.
    New(Subscription, WebhookSecret),
    /// The one the same request made before with the same key, with its secret.
    Again(Subscription, WebhookSecret),
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// The key was used with another request.
    #[error("Idempotency-Key {key:?} was used with another request")]
    KeyReused { key: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    StoredSecret(#[from] StoredSecretError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A stored row that does not read back (edited by hand): never answered as a subscription.
    #[error("webhook {webhook_id} is stored with an unknown event type {event_type:?}")]
    Unreadable { webhook_id: Uuid, event_type: String },
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    #[sqlx(try_from = "Stored<Uuid>")]
    webhook_id: Uuid,
    url: String,
    event_types: String,
    description: Option<String>,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    created_at: DateTime<Utc>,
    starts_after: i64,
    replay_next: Option<i64>,
    replay_until: Option<i64>,
}

impl TryFrom<Row> for Subscription {
    type Error = SubscriptionError;

    fn try_from(row: Row) -> Result<Self, Self::Error> {
        let event_types = row
            .event_types
            .split(',')
            .map(|name| {
                name.parse().map_err(|_| SubscriptionError::Unreadable {
                    webhook_id: row.webhook_id,
                    event_type: name.to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Subscription {
            webhook_id: row.webhook_id,
            url: row.url,
            event_types,
            description: row.description,
            created_at: row.created_at,
            starts_after: row.starts_after,
            replay: row
                .replay_next
                .zip(row.replay_until)
                .map(|(next, until)| Replay { next, until }),
        })
    }
}

/// The subscriptions of a database (the log's: they follow it). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    database: Database,
}

impl Subscriptions {
    pub fn new(database: Database) -> Self {
        Subscriptions { database }
    }

    /// Records a new subscription, starting after the head of the log; answers it with its
    /// secret, which nothing shows again (it is stored sealed under the master key of `keys`).
    pub async fn create(
        &self,
        new: NewSubscription,
        webhook_id: Uuid,
        now: DateTime<Utc>,
        keyed: Option<KeyedRequest>,
        keys: &MasterKeys,
    ) -> Result<Created, SubscriptionError> {
        let secret = WebhookSecret::generate()?;
        let stored = StoredSecret::seal(keys, webhook_id, &secret)?;
        let event_types: Vec<&str> = new
            .event_types
            .iter()
            .map(|event_type| event_type.as_str())
            .collect();
        // The outbox's checkpoint, locked before the head of the log is read: an outbox batch
        // either committed before (its events are at or below the head read here) or reads
        // the subscriptions after this one commits (see `super::outbox`). On SQLite the write
        // transaction alone orders them.
        load_checkpoint(&self.database, OUTBOX).await?;
        let mut tx = self.database.begin_write().await?;
        lock_checkpoint(&mut tx, OUTBOX).await?;
        // Under the same lock, so two requests with one key cannot both insert.
        if let Some(keyed) = &keyed {
            #[derive(sqlx::FromRow)]
            struct Keyed {
                #[sqlx(try_from = "Stored<Uuid>")]
                webhook_id: Uuid,
                request_fingerprint: Option<String>,
                secret: String,
                secret_master_key_id: Option<String>,
            }
            let earlier: Option<Keyed> = query(
                "SELECT webhook_id, request_fingerprint, secret, secret_master_key_id \
                 FROM webhook_subscriptions WHERE idempotency_key = $1",
            )
            .bind(keyed.key.as_str())
            .fetch_optional(&mut tx)
            .await?;
            if let Some(earlier) = earlier {
                drop(tx);
                if earlier.request_fingerprint.as_deref() != Some(keyed.fingerprint.as_str()) {
                    let key = keyed
                        .key
                        .split_once(": ")
                        .map_or(keyed.key.as_str(), |(_, key)| key);
                    return Err(SubscriptionError::KeyReused { key: key.to_owned() });
                }
                let subscription = self
                    .get(earlier.webhook_id)
                    .await?
                    .ok_or(sqlx::Error::RowNotFound)?;
                let stored = StoredSecret {
                    secret: earlier.secret,
                    master_key_id: earlier.secret_master_key_id,
                };
                let secret = stored.open(keys, earlier.webhook_id)?;
                return Ok(Created::Again(subscription, secret));
            }
        }
        let starts_after: i64 = query(format!(
            "INSERT INTO webhook_subscriptions ({COLUMNS}, secret, secret_master_key_id, idempotency_key, \
             request_fingerprint) \
             SELECT $1, $2, $3, $4, $5, COALESCE(MAX(global_position), 0), $6, $7, $8, $9 FROM events \
             RETURNING starts_after"
        ))
        .bind(webhook_id)
        .bind(new.destination.as_str())
        .bind(event_types.join(","))
        .bind(new.description.as_deref())
        .bind(now)
        .bind(stored.secret.as_str())
        .bind(stored.master_key_id.as_deref())
        .bind(keyed.as_ref().map(|keyed| keyed.key.as_str()))
        .bind(keyed.as_ref().map(|keyed| keyed.fingerprint.as_str()))
        .fetch_scalar(&mut tx)
        .await?;
        tx.commit().await?;
        let subscription = Subscription {
            webhook_id,
            url: new.destination.as_str().to_owned(),
            event_types: new.event_types.into_iter().collect(),
            description: new.description,
            created_at: now,
            starts_after,
            replay: None,
        };
        Ok(Created::New(subscription, secret))
    }

    /// Every subscription, oldest first.
    pub async fn list(&self) -> Result<Vec<Subscription>, SubscriptionError> {
        let rows: Vec<Row> = query(format!("{READ} ORDER BY created_at, webhook_id"))
            .fetch_all(&self.database)
            .await?;
        rows.into_iter().map(Subscription::try_from).collect()
    }

    /// Every subscription, as `tx` sees them.
    pub async fn list_in(tx: &mut Transaction) -> Result<Vec<Subscription>, SubscriptionError> {
        let rows: Vec<Row> = query(format!("{READ} ORDER BY created_at, webhook_id"))
            .fetch_all(tx)
            .await?;
        rows.into_iter().map(Subscription::try_from).collect()
    }

    pub async fn get(&self, webhook_id: Uuid) -> Result<Option<Subscription>, SubscriptionError> {
        let row: Option<Row> = query(format!("{READ} WHERE webhook_id = $1"))
            .bind(webhook_id)
            .fetch_optional(&self.database)
            .await?;
        row.map(Subscription::try_from).transpose()
    }

    /// The messages of a subscription that were parked (their attempts ran out), oldest first:
    /// each holds up the later messages of its account.
    pub async fn parked(&self, webhook_id: Uuid) -> Result<Vec<ParkedMessage>, SubscriptionError> {
        Ok(query(
            "SELECT position, account_id, event_id, event_type, attempts, last_error, parked_at \
             FROM webhook_messages WHERE webhook_id = $1 AND parked_at IS NOT NULL ORDER BY position",
        )
        .bind(webhook_id)
        .fetch_all(&self.database)
        .await?)
    }

    /// Sends the parked messages of a subscription again, from now, with their attempts
    /// counted from zero; answers how many there were. The later messages of their accounts
    /// follow them, in order.
    pub async fn retry_parked(&self, webhook_id: Uuid, now: DateTime<Utc>) -> Result<u64, SubscriptionError> {
        let mut tx = self.database.begin_write().await?;
        lock_subscription(&mut tx, webhook_id).await?;
        let retried = query(
            "UPDATE webhook_messages SET parked_at = NULL, attempts = 0, next_attempt_at = $2 \
             WHERE webhook_id = $1 AND parked_at IS NOT NULL",
        )
        .bind(webhook_id)
        .bind(now)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(retried)
    }

    /// What each subscription has still to receive, and where the outbox stands.
    pub async fn backlogs(&self) -> Result<Backlogs, SubscriptionError> {
        self.backlogs_of(None).await
    }

    /// What one subscription has still to receive, and where the outbox stands: its messages
    /// only are counted.
    pub async fn backlog(&self, webhook_id: Uuid) -> Result<Backlogs, SubscriptionError> {
        self.backlogs_of(Some(webhook_id)).await
    }

    async fn backlogs_of(&self, only: Option<Uuid>) -> Result<Backlogs, SubscriptionError> {
        // The checkpoint first: a batch the outbox enqueues after it is counted as behind
        // it, whether or not the count below sees its messages.
        let outbox_at = read_checkpoint(&self.database, OUTBOX).await?.unwrap_or(0);
        #[derive(sqlx::FromRow)]
        struct Counted {
            #[sqlx(try_from = "Stored<Uuid>")]
            webhook_id: Uuid,
            #[sqlx(flatten)]
            backlog: Backlog,
        }
        let filter = if only.is_some() {
            "WHERE webhook_id = $1"
        } else {
            ""
        };
        let count = query(format!(
            "SELECT webhook_id, COUNT(*) AS waiting, \
             COALESCE(SUM(CASE WHEN parked_at IS NULL THEN 0 ELSE 1 END), 0) AS parked, \
             MIN(position) AS oldest FROM webhook_messages {filter} GROUP BY webhook_id"
        ));
        let counted: Vec<Counted> = match only {
            Some(webhook_id) => count.bind(webhook_id),
            None => count,
        }
        .fetch_all(&self.database)
        .await?;
        Ok(Backlogs {
            outbox_at,
            each: counted
                .into_iter()
                .map(|counted| (counted.webhook_id, counted.backlog))
                .collect(),
        })
    }

    /// The most recent attempts to deliver the messages of a subscription, newest first, at
    /// most `limit` (of the last [`ATTEMPTS_KEPT`]).
    pub async fn attempts(
        &self,
        webhook_id: Uuid,
        limit: i64,
    ) -> Result<Vec<DeliveryAttempt>, SubscriptionError> {
        Ok(query(
            "SELECT position, account_id, event_id, event_type, attempt, attempted_at, outcome, \
             status, latency_ms, error FROM webhook_attempts WHERE webhook_id = $1 \
             ORDER BY attempt_id DESC LIMIT $2",
        )
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(&self.database)
        .await?)
    }

    /// Asks for the subscription's messages of the log positions from `from` to where the
    /// outbox stands to be sent again ([`super::replay`]), in place of any replay under way;
    /// answers the stretch (`None` when there is no such subscription), empty when `from` is
    /// past it.
    pub async fn replay(&self, webhook_id: Uuid, from: i64) -> Result<Option<Replay>, SubscriptionError> {
        load_checkpoint(&self.database, OUTBOX).await?;
        let mut tx = self.database.begin_write().await?;
        // Under the outbox's lock: it enqueues what comes after `until`, a replay the rest.
        let until = lock_checkpoint(&mut tx, OUTBOX).await?.unwrap_or(0);
        let replay = Replay { next: from, until };
        let stored = (from <= until).then_some(replay);
        let updated = query(
            "UPDATE webhook_subscriptions SET replay_next = $2, replay_until = $3 WHERE webhook_id = $1",
        )
        .bind(webhook_id)
        .bind(stored.map(|replay| replay.next))
        .bind(stored.map(|replay| replay.until))
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok((updated > 0).then_some(replay))
    }

    /// Deletes a subscription and the messages it still had to receive; answers whether there
    /// was one. Nothing more is sent to it.
    pub async fn delete(&self, webhook_id: Uuid) -> Result<bool, SubscriptionError> {
        // Locked like `create`: an outbox batch that read the subscriptions before this one
        // was deleted commits first, and its messages are deleted below.
        // The subscription's row before its messages, in the order every writer of them locks.
        let mut tx = self.database.begin_write().await?;
        lock_checkpoint(&mut tx, OUTBOX).await?;
        let deleted = query("DELETE FROM webhook_subscriptions WHERE webhook_id = $1")
            .bind(webhook_id)
            .execute(&mut tx)
            .await?;
        for table in ["webhook_messages", "webhook_attempts"] {
            query(format!("DELETE FROM {table} WHERE webhook_id = $1"))
                .bind(webhook_id)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }
}

/// Locks a subscription's row until `tx` ends. Every writer of a subscription's messages
/// (the sender recording a batch, a replay's page, a retry, a deletion) takes it first, so
/// they never wait on each other's message rows in opposite orders (PostgreSQL; on SQLite the
/// write transaction alone orders them).
pub(super) async fn lock_subscription(tx: &mut Transaction, webhook_id: Uuid) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = query(format!(
        "SELECT starts_after FROM webhook_subscriptions WHERE webhook_id = $1{}",
        tx.for_update()
    ))
    .bind(webhook_id)
    .fetch_optional_scalar(tx)
    .await?;
    Ok(found.is_some())
}
