//! Replays: a subscription sent the events of a stretch of the log again, from a position an
//! operator names (`POST /webhooks/{id}/replay`), to catch a receiver up after it lost what
//! it had, or to give a new one the history before it subscribed.
//!
//! Asking for one records the stretch on the subscription, from the position asked for to
//! where the outbox's checkpoint stands (read under its lock: the outbox enqueues what comes
//! after, so nothing falls between the two), and answers at once. The sender, under its
//! leadership, then enqueues the stretch a page at a time ([`advance`]): each page's messages
//! and the move of the replay's cursor are written in one transaction, under the lock of the
//! subscription's row (a newer replay asked for meanwhile is noticed there, and the page left
//! unwritten), so a replay survives crashes and handovers. A replayed message the
//! subscription still had, parked or waiting, is sent again from now, as a new generation: a
//! batch that had it in flight records nothing for it.
//!
//! A replay enqueues only while its subscription has fewer than [`BACKLOG_LIMIT`] messages
//! waiting: a replay of millions of events moves at the pace of its receiver, and the outbox
//! table stays small. Messages are sent, as ever, in log order per account: while a replay
//! runs, the subscription's messages past its cursor wait (the sender's due query), so each
//! account's replayed messages go before its later ones, page after page.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, Stored, query};
use crate::integration::contract::IntegrationEventType;
use crate::integration::outbox::{Enqueue, enqueue, publish};
use crate::store::{EventStore, StoreError};

/// How many events of the log one page of a replay reads, unless the sender's settings say
/// otherwise.
pub const PAGE: i64 = 1_000;

/// A replay waits while its subscription has this many messages or more still to send.
pub const BACKLOG_LIMIT: i64 = 10_000;

/// A stretch of the log to send again: positions `next` to `until`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    pub next: i64,
    pub until: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, sqlx::FromRow)]
struct Replaying {
    #[sqlx(try_from = "Stored<Uuid>")]
    webhook_id: Uuid,
    event_types: String,
    replay_next: i64,
    replay_until: i64,
}

/// Enqueues one page of every replay under way whose subscription has room (see the module
/// docs); answers whether a replay has more to enqueue and room for it now.
pub async fn advance(
    database: &Database,
    store: &dyn EventStore,
    page: i64,
    now: DateTime<Utc>,
) -> Result<bool, ReplayError> {
    // Only the messages a replay lets through count: the later ones wait for it to end.
    let replaying: Vec<Replaying> = query(
        "SELECT s.webhook_id, s.event_types, s.replay_next, s.replay_until \
         FROM webhook_subscriptions s WHERE s.replay_next IS NOT NULL \
         AND (SELECT COUNT(*) FROM webhook_messages m \
              WHERE m.webhook_id = s.webhook_id AND m.position < s.replay_next) < $1",
    )
    .bind(BACKLOG_LIMIT)
    .fetch_all(database)
    .await?;
    let mut more = false;
    for replay in replaying {
        // One replay failing (its page unreadable now) holds up no other.
        match advance_one(database, store, &replay, page, now).await {
            Ok(has_more) => more |= has_more,
            Err(error) => tracing::warn!(
                webhook_id = %replay.webhook_id,
                error = %crate::telemetry::error_chain(&error),
                "cannot enqueue a replay's next page; trying again next round"
            ),
        }
    }
    Ok(more)
}

/// Enqueues the next page of `replay`; answers whether it has more.
async fn advance_one(
    database: &Database,
    store: &dyn EventStore,
    replay: &Replaying,
    page_size: i64,
    now: DateTime<Utc>,
) -> Result<bool, ReplayError> {
    let wanted: Vec<IntegrationEventType> = replay
        .event_types
        .split(',')
        .filter_map(|name| name.parse().ok())
        .collect();
    let page = store.read_all(replay.replay_next - 1, page_size).await?;
    let in_stretch: Vec<_> = page
        .iter()
        .filter(|recorded| recorded.global_position <= replay.replay_until)
        .collect();
    let done = in_stretch.len() < page.len() || page.len() < usize::try_from(page_size).unwrap_or(usize::MAX);
    let next = in_stretch
        .last()
        .map_or(replay.replay_until + 1, |last| last.global_position + 1);
    let mut tx = database.begin_write().await?;
    // The subscription's row first, as every writer of its messages locks it; gone or moved
    // when it was deleted or a newer replay was asked for meanwhile.
    let current: Option<i64> = query(format!(
        "SELECT replay_next FROM webhook_subscriptions \
         WHERE webhook_id = $1 AND replay_next = $2 AND replay_until = $3{}",
        tx.for_update()
    ))
    .bind(replay.webhook_id)
    .bind(replay.replay_next)
    .bind(replay.replay_until)
    .fetch_optional_scalar(&mut tx)
    .await?;
    if current.is_none() {
        return Ok(true);
    }
    for recorded in in_stretch {
        let published = match publish(recorded) {
            Ok(Some(published)) => published,
            Ok(None) => continue,
            // The outbox parked it when it first met it; a replay passes it by.
            Err(error) => {
                tracing::warn!(
                    webhook_id = %replay.webhook_id,
                    position = recorded.global_position,
                    error = %crate::telemetry::error_chain(&error),
                    "a replay passes by an event that does not decode"
                );
                continue;
            }
        };
        if wanted.contains(&published.event_type) {
            enqueue(&mut tx, replay.webhook_id, &published, now, Enqueue::Again).await?;
        }
    }
    let finished = done || next > replay.replay_until;
    query(
        "UPDATE webhook_subscriptions SET replay_next = $4, replay_until = $5 \
         WHERE webhook_id = $1 AND replay_next = $2 AND replay_until = $3",
    )
    .bind(replay.webhook_id)
    .bind(replay.replay_next)
    .bind(replay.replay_until)
    .bind((!finished).then_some(next))
    .bind((!finished).then_some(replay.replay_until))
    .execute(&mut tx)
    .await?;
    tx.commit().await?;
    Ok(!finished)
}
