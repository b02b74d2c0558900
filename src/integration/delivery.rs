//! Sending the outbox's messages: at least once, in log order per account, with back-off,
//! parking, and no request to anywhere a subscription may not reach.
//!
//! One process at a time sends (the leadership of [`NAME`], as for the hold expiry scheduler),
//! in rounds. A round takes the message at the head of each account's line of each
//! subscription (the lowest position of that account still to be received) whose next attempt
//! is due, sends them all at once, and waits for every answer before the next round: so one
//! message per account is in flight at a time, and an account's messages arrive in log order,
//! while a receiver that is slow for one account holds up no other.
//!
//! A `2xx` answer deletes the message. Anything else (another status, a redirect, which is
//! never followed, a time-out, no connection) schedules the next attempt after a back-off that
//! doubles from `first_backoff` up to `max_backoff`, with jitter (a random half of it taken
//! off, so that receivers coming back are not hit by every sender at once); after
//! `max_attempts` the message is parked: it stays, with its last error, and so do the later
//! messages of its account for that subscription, until an operator retries it. Other
//! accounts keep flowing.
//!
//! A process that dies mid-round leaves its messages in the table; the next leader sends them
//! again, under the same `webhook-id` (the event's id), so receivers drop the duplicates.
//!
//! Every host name is resolved by `PublicResolver`, which drops private, loopback and
//! link-local addresses (unless private addresses are allowed), so a name that resolves to
//! one now (DNS rebinding) is refused at the moment of connecting; a URL naming an address is
//! checked again before each send. Redirects are not followed and answers' bodies not read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{Database, Stored, query};
use crate::integration::destination::{Destination, is_public};
use crate::integration::signing::{WEBHOOK_ID, WEBHOOK_SIGNATURE, WEBHOOK_TIMESTAMP, WebhookSecret};
use crate::process::led::run_while_leading;

/// The name of the sender's leadership.
pub const NAME: &str = "webhook_delivery";

/// How many messages one round sends at most (at once).
const ROUND: i64 = 64;

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
    event_id: Uuid,
    body: String,
    attempts: i32,
    url: String,
    secret: String,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub failed: usize,
    pub parked: usize,
}

/// Sends the outbox's messages (see the module docs).
#[derive(Debug, Clone)]
pub struct Deliverer {
    database: Database,
    client: reqwest::Client,
    settings: DeliverySettings,
}

impl Deliverer {
    pub fn new(database: Database, settings: DeliverySettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.attempt_timeout)
            .connect_timeout(settings.attempt_timeout)
            .dns_resolver(Arc::new(PublicResolver {
                allow_private: settings.allow_private,
            }))
            .user_agent(concat!("foldbank-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Deliverer {
            database,
            client,
            settings,
        })
    }

    /// Runs rounds while this process leads, until `stop`.
    pub fn start(self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let this = &self;
            run_while_leading(
                &self.database,
                NAME,
                self.settings.every,
                &stop,
                move || async move {
                    match this.deliver_due().await {
                        // A message delivered may have one behind it, due now.
                        Ok(round) => round.delivered > 0,
                        Err(error) => {
                            tracing::warn!(
                                task = NAME,
                                error = %crate::telemetry::error_chain(&error),
                                "cannot read the webhook messages due; trying again next round"
                            );
                            false
                        }
                    }
                },
            )
            .await;
        })
    }

    /// One round: sends every message at the head of its account's line that is due now (up
    /// to `ROUND`), at once, and records what became of each.
    pub async fn deliver_due(&self) -> Result<Round, sqlx::Error> {
        let now = Utc::now();
        let due: Vec<Due> = query(
            "SELECT m.webhook_id, m.position, m.event_id, m.body, m.attempts, s.url, s.secret \
             FROM webhook_messages m JOIN webhook_subscriptions s ON s.webhook_id = m.webhook_id \
             WHERE m.parked_at IS NULL AND m.next_attempt_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_messages e WHERE e.webhook_id = m.webhook_id \
                 AND e.account_id = m.account_id AND e.position < m.position) \
             ORDER BY m.position LIMIT $2",
        )
        .bind(now)
        .bind(ROUND)
        .fetch_all(&self.database)
        .await?;
        let sent = join_all(due.iter().map(|message| self.send(message))).await;
        let mut round = Round::default();
        for (message, outcome) in due.iter().zip(sent) {
            match outcome {
                Ok(()) => {
                    round.delivered += 1;
                    self.database
                        .execute_write(
                            query("DELETE FROM webhook_messages WHERE webhook_id = $1 AND position = $2")
                                .bind(message.webhook_id)
                                .bind(message.position),
                        )
                        .await?;
                }
                Err(error) => {
                    let attempts = message.attempts.saturating_add(1);
                    let parked = u32::try_from(attempts).unwrap_or(u32::MAX) >= self.settings.max_attempts;
                    if parked {
                        round.parked += 1;
                        tracing::warn!(webhook_id = %message.webhook_id, position = message.position, attempts, %error, "webhook message parked");
                    } else {
                        round.failed += 1;
                        tracing::info!(webhook_id = %message.webhook_id, position = message.position, attempts, %error, "webhook attempt failed");
                    }
                    let next = Utc::now() + self.backoff(attempts);
                    self.database
                        .execute_write(
                            query(
                                "UPDATE webhook_messages SET attempts = $3, next_attempt_at = $4, \
                                 last_error = $5, parked_at = $6 WHERE webhook_id = $1 AND position = $2",
                            )
                            .bind(message.webhook_id)
                            .bind(message.position)
                            .bind(attempts)
                            .bind(next)
                            .bind(error.chars().take(500).collect::<String>())
                            .bind(parked.then_some(now)),
                        )
                        .await?;
                }
            }
        }
        Ok(round)
    }

    /// One attempt: `Ok` on a `2xx` answer, else why not.
    async fn send(&self, message: &Due) -> Result<(), String> {
        let destination = Destination::parse(&message.url, self.settings.allow_private)
            .map_err(|error| error.to_string())?;
        let secret = WebhookSecret::parse(&message.secret).map_err(|error| error.to_string())?;
        let id = message.event_id.to_string();
        let timestamp = Utc::now().timestamp();
        let started = Instant::now();
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
            Ok(response) if response.status().is_success() => {
                tracing::debug!(webhook_id = %message.webhook_id, position = message.position, ?latency, "webhook delivered");
                Ok(())
            }
            Ok(response) => Err(format!("answered {}", response.status())),
            Err(error) => Err(crate::telemetry::error_chain(&error).to_string()),
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
