//! Sending the outbox's messages: at least once, in log order per account, with back-off,
//! parking, and no request to anywhere a subscription may not reach.
//!
//! One process at a time sends (the leadership of [`NAME`], as for the hold expiry scheduler),
//! in rounds. A round reads the message at the head of each account's line of each
//! subscription (the lowest position of that account still to be received) whose next attempt
//! is due, and starts one batch per subscription: the batch sends its messages at once and
//! records every answer before that subscription's next batch starts (at once while batches
//! deliver, for a bounded turn; then at the next round). So one message per
//! account is in flight at a time and an account's messages arrive in log order, while a
//! receiver that is slow (up to the attempt's time-out) holds up only its own subscription's
//! next batch: other subscriptions go on, round after round.
//!
//! A `2xx` answer deletes the message. Anything else (another status, a redirect, which is
//! never followed, a time-out, no connection) schedules the next attempt after a back-off that
//! doubles from `first_backoff` up to `max_backoff`, with jitter (a random half of it taken
//! off, so that receivers coming back are not hit by every sender at once); after
//! `max_attempts` the message is parked: it stays, with its last error, and so do the later
//! messages of its account for that subscription, until it is sent again (an operator's
//! retry, or a replay). Other accounts keep flowing. Every attempt is recorded with what it
//! met (`webhook_attempts`, the last [`ATTEMPTS_KEPT`] of each subscription) in the
//! transaction that records the batch's outcomes. Each round first enqueues the next page of
//! the replays under way ([`replay::advance`]).
//!
//! A process that dies mid-round leaves its messages in the table; the next leader sends them
//! again, under the same `webhook-id` (the event's id), so receivers drop the duplicates. (A
//! leader that lost its leadership finishes the batches in flight: during a handover a
//! receiver may get a duplicate of a message after the one behind it.)
//!
//! Every host name is resolved by `PublicResolver`, which drops private, loopback and
//! link-local addresses (unless private addresses are allowed), so a name that resolves to
//! one now (DNS rebinding) is refused at the moment of connecting; a URL naming an address is
//! checked again before each send. Redirects are not followed and answers' bodies not read.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::db::{Database, Stored, Transaction, query};
use crate::integration::destination::{Destination, is_public};
use crate::integration::replay;
use crate::integration::secrets::StoredSecret;
use crate::integration::signing::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP};
use crate::integration::subscriptions::{ATTEMPTS_KEPT, lock_subscription};
use crate::metrics::Metrics;
use crate::privacy::MasterKeys;
use crate::process::led::run_while_leading;
use crate::store::EventStore;

/// The name of the sender's leadership.
pub const NAME: &str = "webhook_delivery";

/// How many messages of one subscription are sent at once at most (each the head of an
/// account's line).
const PER_SUBSCRIPTION: i64 = 64;

/// How many batches of one subscription follow each other before the next round takes it up.
const BATCHES_PER_TURN: usize = 64;

/// How many messages one round reads at most, over every subscription.
const ROUND: i64 = 1024;

/// How the sender paces itself.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Between two rounds that found nothing to send.
    pub every: Duration,
    /// How long one attempt may take, connection included.
    pub attempt_timeout: Duration,
    /// Attempts before a message is parked.
    pub max_attempts: u32,
    /// The pause after the first failed attempt; it doubles after each one.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Whether private, loopback and link-local addresses may be sent to.
    pub allow_private: bool,
    /// How many events of the log one page of a replay reads.
    pub replay_page: i64,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            every: Duration::from_millis(250),
            attempt_timeout: Duration::from_secs(10),
            max_attempts: 10,
            first_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30 * 60),
            allow_private: false,
            replay_page: replay::PAGE,
        }
    }
}

/// A message due now, with what sending it needs.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    #[sqlx(try_from = "Stored<Uuid>")]
    webhook_id: Uuid,
    position: i64,
    #[sqlx(try_from = "Stored<Uuid>")]
    account_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    event_id: Uuid,
    event_type: String,
    body: String,
    attempts: i32,
    /// Bumped by a replay of the message: the outcome is recorded only if it still holds.
    generation: i32,
    url: String,
    secret: String,
    secret_master_key_id: Option<String>,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub failed: usize,
    pub parked: usize,
}

/// What became of one attempt.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AttemptOutcome {
    /// The receiver answered `2xx`: the message is done.
    Delivered,
    /// It will be tried again after a back-off.
    Failed,
    /// The attempts ran out: the message waits for an operator's retry or a replay.
    Parked,
}

/// One attempt as the receiver answered it (or did not).
#[derive(Debug)]
struct Attempted {
    status: Option<u16>,
    latency: Duration,
    /// Why it did not count as delivered: the status answered, a time-out, no connection.
    error: Option<String>,
}

/// Sends the outbox's messages (see the module docs).
#[derive(Debug, Clone)]
pub struct Deliverer {
    database: Database,
    /// The log, which replays read again.
    store: Arc<dyn EventStore>,
    metrics: Metrics,
    /// What opens the subscriptions' secrets (sealed under the master key).
    keys: MasterKeys,
    client: reqwest::Client,
    settings: DeliverySettings,
    /// The subscriptions with a batch in flight: a round leaves them alone, so a slow
    /// receiver holds up its own subscription's next batch, never another's.
    busy: Arc<Mutex<HashSet<Uuid>>>,
    /// Held by a round from reading the messages due until it has started its batches, and by
    /// a batch to leave [`busy`](Self::busy): so a round never starts a batch from rows read
    /// before that subscription's last batch recorded its outcomes (a stale count of attempts
    /// would let a message be tried past its limit; a message just delivered, sent again).
    round: Arc<tokio::sync::Mutex<()>>,
    /// The batches in flight, waited for when the sender stops.
    batches: TaskTracker,
}

impl Deliverer {
    pub fn new(
        database: Database,
        store: Arc<dyn EventStore>,
        metrics: Metrics,
        keys: MasterKeys,
        settings: DeliverySettings,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the destination itself, past the
            // resolver below.
            .no_proxy()
            .timeout(settings.attempt_timeout)
            .connect_timeout(settings.attempt_timeout)
            .dns_resolver(Arc::new(PublicResolver {
                allow_private: settings.allow_private,
            }))
            .user_agent(concat!("foldbank-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer {
            database,
            store,
            metrics,
            keys,
            client,
            settings,
            busy: Arc::default(),
            round: Arc::default(),
            batches: TaskTracker::new(),
        })
    }

    /// Runs rounds while this process leads, until `stop`; then waits for the batches in
    /// flight.
    pub fn start(self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let this = &self;
            run_while_leading(
                &self.database,
                NAME,
                self.settings.every,
                &stop,
                move || async move {
                    let replaying = match replay::advance(
                        &this.database,
                        this.store.as_ref(),
                        this.settings.replay_page,
                        Utc::now(),
                    )
                    .await
                    {
                        Ok(more) => more,
                        Err(error) => {
                            tracing::warn!(
                                task = NAME,
                                error = %crate::telemetry::error_chain(&error),
                                "cannot enqueue a replay's next page; trying again next round"
                            );
                            false
                        }
                    };
                    if let Err(error) = this.start_due_batches().await {
                        tracing::warn!(
                            task = NAME,
                            error = %crate::telemetry::error_chain(&error),
                            "cannot read the webhook messages due; trying again next round"
                        );
                    }
                    // A replay with more to enqueue (and room for it) goes on at once.
                    replaying
                },
            )
            .await;
            self.batches.close();
            self.batches.wait().await;
        })
    }

    /// One round: reads the messages due (the head of each account's line, up to
    /// `PER_SUBSCRIPTION` per subscription) and starts one batch for each subscription that
    /// has none in flight; answers how many it started. A batch sends its messages at once and
    /// records what became of each.
    pub async fn start_due_batches(&self) -> Result<usize, sqlx::Error> {
        let _round = self.round.lock().await;
        let mut batches: BTreeMap<Uuid, Vec<Due>> = BTreeMap::new();
        for message in self.due(None).await? {
            batches.entry(message.webhook_id).or_default().push(message);
        }
        let mut started = 0;
        for (webhook_id, batch) in batches {
            if !lock(&self.busy).insert(webhook_id) {
                continue;
            }
            started += 1;
            let this = self.clone();
            self.batches.spawn(async move {
                if let Err(error) = this.drain(webhook_id, batch).await {
                    tracing::warn!(
                        task = NAME,
                        %webhook_id,
                        error = %crate::telemetry::error_chain(&error),
                        "cannot read or record webhook messages; they will be sent again"
                    );
                }
                // Not while a round is between reading what is due and starting its batches.
                let _round = this.round.lock().await;
                lock(&this.busy).remove(&webhook_id);
            });
        }
        Ok(started)
    }

    /// Sends `batch`, then the batches of the same subscription that are due after it, one
    /// after another while they deliver, for at most `BATCHES_PER_TURN` batches: a busy
    /// subscription's messages flow without waiting for the next round, and the round (which
    /// runs only while this process leads) takes it up again after its turn.
    async fn drain(&self, webhook_id: Uuid, mut batch: Vec<Due>) -> Result<(), sqlx::Error> {
        for _ in 0..BATCHES_PER_TURN {
            // All failed: what follows waits for their next attempts (or is parked behind them).
            if self.send_batch(batch).await?.delivered == 0 {
                break;
            }
            batch = self.due(Some(webhook_id)).await?;
            if batch.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// The messages due now at the head of their account's line, oldest first, at most
    /// `PER_SUBSCRIPTION` of each subscription (of `only` that one).
    async fn due(&self, only: Option<Uuid>) -> Result<Vec<Due>, sqlx::Error> {
        let one = if only.is_some() {
            "AND m.webhook_id = $4"
        } else {
            ""
        };
        let due = query(format!(
            "SELECT webhook_id, position, account_id, event_id, event_type, body, attempts, generation, \
                 url, secret, secret_master_key_id FROM ( \
                 SELECT m.webhook_id, m.position, m.account_id, m.event_id, m.event_type, m.body, \
                     m.attempts, m.generation, s.url, s.secret, s.secret_master_key_id, \
                     ROW_NUMBER() OVER (PARTITION BY m.webhook_id ORDER BY m.position) AS nth \
                 FROM webhook_messages m JOIN webhook_subscriptions s ON s.webhook_id = m.webhook_id \
                 WHERE m.parked_at IS NULL AND m.next_attempt_at <= $1 {one} \
                 AND (s.replay_next IS NULL OR m.position < s.replay_next) \
                 AND NOT EXISTS (SELECT 1 FROM webhook_messages e WHERE e.webhook_id = m.webhook_id \
                     AND e.account_id = m.account_id AND e.position < m.position) \
             ) due WHERE nth <= $2 ORDER BY position LIMIT $3"
        ))
        .bind(Utc::now())
        .bind(PER_SUBSCRIPTION)
        .bind(ROUND);
        match only {
            Some(webhook_id) => due.bind(webhook_id),
            None => due,
        }
        .fetch_all(&self.database)
        .await
    }

    /// Sends `due` (messages of one subscription, each the head of its account's line) at
    /// once, and records what became of each: deleted when delivered, else its next attempt,
    /// or parked; and every attempt, for `GET /webhooks/{id}/deliveries`.
    async fn send_batch(&self, due: Vec<Due>) -> Result<Round, sqlx::Error> {
        let Some(webhook_id) = due.first().map(|message| message.webhook_id) else {
            return Ok(Round::default());
        };
        let now = Utc::now();
        let sent = join_all(due.iter().map(|message| self.send(message))).await;
        let mut round = Round::default();
        // Every outcome of the batch in one transaction: one commit (one fsync) per batch.
        let mut tx = self.database.begin_write().await?;
        let Some(generations) = self.lock_messages(&mut tx, webhook_id, &due).await? else {
            // Deleted meanwhile, its messages with it.
            return Ok(round);
        };
        let mut delivered = Vec::new();
        let mut outcomes = Vec::with_capacity(due.len());
        for (message, attempted) in due.iter().zip(&sent) {
            let attempts = message.attempts.saturating_add(1);
            // Replayed while in flight (or gone): the new generation is sent again as it is.
            let current = generations.get(&message.position) == Some(&message.generation);
            let Some(error) = &attempted.error else {
                if current {
                    delivered.push(message.position);
                }
                outcomes.push(AttemptOutcome::Delivered);
                continue;
            };
            let parked = current && u32::try_from(attempts).unwrap_or(u32::MAX) >= self.settings.max_attempts;
            if parked {
                round.parked += 1;
                outcomes.push(AttemptOutcome::Parked);
                tracing::warn!(%webhook_id, position = message.position, attempts, %error, "webhook message parked");
            } else {
                round.failed += 1;
                outcomes.push(AttemptOutcome::Failed);
                tracing::info!(%webhook_id, position = message.position, attempts, %error, "webhook attempt failed");
            }
            if !current {
                continue;
            }
            query(
                "UPDATE webhook_messages SET attempts = $3, next_attempt_at = $4, \
                 last_error = $5, parked_at = $6 WHERE webhook_id = $1 AND position = $2",
            )
            .bind(webhook_id)
            .bind(message.position)
            .bind(attempts)
            .bind(Utc::now() + self.backoff(attempts))
            .bind(error.as_str())
            .bind(parked.then_some(now))
            .execute(&mut tx)
            .await?;
        }
        round.delivered = delivered.len();
        if !delivered.is_empty() {
            // The batch is of one subscription: its delivered messages go in one statement.
            let placeholders: Vec<String> = (2..delivered.len() + 2).map(|n| format!("${n}")).collect();
            let mut delete = query(format!(
                "DELETE FROM webhook_messages WHERE webhook_id = $1 AND position IN ({})",
                placeholders.join(", ")
            ))
            .bind(webhook_id);
            for position in delivered {
                delete = delete.bind(position);
            }
            delete.execute(&mut tx).await?;
        }
        self.record_attempts(&mut tx, webhook_id, &due, &sent, &outcomes, now)
            .await?;
        tx.commit().await?;
        self.metrics
            .webhook_attempts(round.delivered, round.failed, round.parked);
        Ok(round)
    }

    /// Locks the subscription's row, as every writer of its messages does first (a replay, a
    /// retry, a deletion), and answers the generation of each of `due`'s messages still there;
    /// `None` when the subscription was deleted.
    async fn lock_messages(
        &self,
        tx: &mut Transaction,
        webhook_id: Uuid,
        due: &[Due],
    ) -> Result<Option<BTreeMap<i64, i32>>, sqlx::Error> {
        if !lock_subscription(tx, webhook_id).await? {
            return Ok(None);
        }
        let placeholders: Vec<String> = (2..due.len() + 2).map(|n| format!("${n}")).collect();
        let mut generations = query(format!(
            "SELECT position, generation FROM webhook_messages WHERE webhook_id = $1 AND position IN ({})",
            placeholders.join(", ")
        ))
        .bind(webhook_id);
        for message in due {
            generations = generations.bind(message.position);
        }
        let generations: Vec<(i64, i32)> = generations.fetch_all(tx).await?;
        Ok(Some(generations.into_iter().collect()))
    }

    /// Writes the batch's attempts in one statement and lets go of the subscription's
    /// attempts older than the last [`ATTEMPTS_KEPT`].
    async fn record_attempts(
        &self,
        tx: &mut Transaction,
        webhook_id: Uuid,
        due: &[Due],
        sent: &[Attempted],
        outcomes: &[AttemptOutcome],
        now: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        const COLUMNS: usize = 10;
        let rows: Vec<String> = (0..due.len())
            .map(|row| {
                let first = 2 + row * COLUMNS;
                let values: Vec<String> = (first..first + COLUMNS).map(|n| format!("${n}")).collect();
                format!("($1, {})", values.join(", "))
            })
            .collect();
        let mut insert = query(format!(
            "INSERT INTO webhook_attempts (webhook_id, position, account_id, event_id, event_type, \
             attempt, attempted_at, outcome, status, latency_ms, error) VALUES {}",
            rows.join(", ")
        ))
        .bind(webhook_id);
        for ((message, attempted), outcome) in due.iter().zip(sent).zip(outcomes) {
            let outcome: &'static str = outcome.into();
            insert = insert
                .bind(message.position)
                .bind(message.account_id)
                .bind(message.event_id)
                .bind(message.event_type.as_str())
                .bind(message.attempts.saturating_add(1))
                .bind(now)
                .bind(outcome)
                .bind(attempted.status.map(i32::from))
                .bind(i64::try_from(attempted.latency.as_millis()).unwrap_or(i64::MAX))
                .bind(attempted.error.as_deref());
        }
        insert.execute(&mut *tx).await?;
        query(
            "DELETE FROM webhook_attempts WHERE webhook_id = $1 AND attempt_id <= ( \
                 SELECT attempt_id FROM webhook_attempts WHERE webhook_id = $1 \
                 ORDER BY attempt_id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(webhook_id)
        .bind(ATTEMPTS_KEPT)
        .execute(tx)
        .await?;
        Ok(())
    }

    /// One attempt: delivered on a `2xx` answer.
    async fn send(&self, message: &Due) -> Attempted {
        let started = Instant::now();
        let failed = |error: String| Attempted {
            status: None,
            latency: started.elapsed(),
            error: Some(error),
        };
        let destination = match Destination::parse(&message.url, self.settings.allow_private) {
            Ok(destination) => destination,
            Err(error) => return failed(error.to_string()),
        };
        let stored = StoredSecret {
            secret: message.secret.clone(),
            master_key_id: message.secret_master_key_id.clone(),
        };
        let secret = match stored.open(&self.keys, message.webhook_id) {
            Ok(secret) => secret,
            Err(error) => return failed(error.to_string()),
        };
        let id = message.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let answer = self
            .client
            .post(destination.url().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(WEBHOOK_ID, &id)
            .header(WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(WEBHOOK_SIGNATURE, secret.sign(&id, timestamp, &message.body))
            .body(message.body.clone())
            .send()
            .await;
        let latency = started.elapsed();
        match answer {
            Ok(response) => {
                let status = response.status();
                Attempted {
                    status: Some(status.as_u16()),
                    latency,
                    error: (!status.is_success()).then(|| format!("answered {status}")),
                }
            }
            Err(error) => {
                let mut error = crate::telemetry::error_chain(&error).to_string();
                if let Some((cut, _)) = error.char_indices().nth(500) {
                    error.truncate(cut);
                }
                failed(error)
            }
        }
    }

    /// The pause before the attempt after the `attempts`-th: doubling from the first back-off,
    /// at most the longest, less a random part of up to half of it.
    fn backoff(&self, attempts: i32) -> chrono::TimeDelta {
        let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
        let full = self
            .settings
            .first_backoff
            .saturating_mul(1 << doublings)
            .min(self.settings.max_backoff);
        let jitter = f64::from(getrandom::u32().unwrap_or(0)) / f64::from(u32::MAX) / 2.0;
        let pause = full.mul_f64(1.0 - jitter);
        chrono::TimeDelta::from_std(pause).unwrap_or(chrono::TimeDelta::MAX)
    }
}

/// Resolves host names for the sender, keeping only the addresses a subscription may reach.
#[derive(Debug)]
struct PublicResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|address| allow_private || is_public(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn lock(busy: &Mutex<HashSet<Uuid>>) -> MutexGuard<'_, HashSet<Uuid>> {
    busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
