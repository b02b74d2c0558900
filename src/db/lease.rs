//! Leases: one holder at a time for a named piece of work, across every process that shares a
//! database, on both backends.
//!
//! A lease is a row of `leases` (see `migrations/*/0011_leases.sql`): taken when it is free or
//! expired, renewed in the background while its holder works, deleted when the work is done. A
//! holder that dies stops renewing, so its lease expires and the work can be taken up again.
//!
//! Work that a holder must not do once it lost its lease (because it was paused past the
//! expiry, say) calls [`Lease::confirm`] in each of its transactions. That renews the lease
//! inside the transaction: on PostgreSQL the row then stays locked until the transaction ends,
//! so no one can take the lease over in between (SQLite's single writer gives the same).
//! Expiry is judged by the clocks of the processes involved: hosts that share a database keep
//! their clocks in step (NTP), well within a lease's length.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::db::{Database, Query, Stored, Transaction, query};

/// Why a lease was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{name} is held by {holder} until {}", until.to_rfc3339())]
    Held {
        name: String,
        holder: String,
        until: DateTime<Utc>,
    },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// One lease's row, as its holder names it.
#[derive(Debug, Clone)]
struct Claim {
    database: Database,
    name: String,
    holder: String,
    ttl: TimeDelta,
}

impl Claim {
    /// Moves the expiry on if the lease is still this holder's and unexpired: one row changed
    /// when it was.
    fn renewal(&self) -> Query {
        let now = Utc::now();
        query("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2 AND expires_at > $4")
            .bind(self.name.as_str())
            .bind(self.holder.as_str())
            .bind(now + self.ttl)
            .bind(now)
    }
}

/// A lease this process holds; renewed until it is released or dropped.
#[derive(Debug)]
pub struct Lease {
    claim: Claim,
    lost: Arc<AtomicBool>,
    /// When the lease was last taken or renewed, as milliseconds since `since`.
    renewed: Arc<AtomicU64>,
    since: Instant,
    /// Stops the renewals: cancelled by [`Lease::release`], which awaits them, or on drop.
    stop: CancellationToken,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

/// Who holds a lease, as `leases.holder` tells it.
#[derive(Debug, sqlx::FromRow)]
struct Holder {
    holder: String,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    expires_at: DateTime<Utc>,
}

impl Database {
    /// Takes the lease `name` for `ttl` (renewed every third of it) if no one holds it, or
    /// answers who does.
    pub async fn take_lease(&self, name: &str, ttl: Duration) -> Result<Lease, LeaseError> {
        let claim = Claim {
            database: self.clone(),
            name: name.to_owned(),
            holder: format!("process {} ({})", std::process::id(), Uuid::now_v7()),
            ttl: TimeDelta::from_std(ttl).unwrap_or(TimeDelta::seconds(30)),
        };
        // Counted from before the lease is asked for: it cannot outlive the row's expiry.
        let since = Instant::now();
        let now = Utc::now();
        let taken = self
            .execute_write(
                query(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     expires_at = excluded.expires_at WHERE leases.expires_at < $4",
                )
                .bind(name)
                .bind(claim.holder.as_str())
                .bind(now + claim.ttl)
                .bind(now),
            )
            .await?;
        if taken == 0 {
            return Err(self.held(name, now).await);
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewed = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let renewal = tokio::spawn(renew(
            claim.clone(),
            Renewed {
                lost: lost.clone(),
                at: renewed.clone(),
                since,
            },
            stop.clone(),
        ));
        Ok(Lease {
            claim,
            lost,
            renewed,
            since,
            stop,
            renewal: Some(renewal),
        })
    }

    /// Who holds lease `name`.
    async fn held(&self, name: &str, now: DateTime<Utc>) -> LeaseError {
        let current: Result<Option<Holder>, _> =
            query("SELECT holder, expires_at FROM leases WHERE name = $1")
                .bind(name)
                .fetch_optional(self)
                .await;
        match current {
            Ok(Some(current)) => LeaseError::Held {
                name: name.to_owned(),
                holder: current.holder,
                until: current.expires_at,
            },
            // Released between the two statements: as good as held a moment ago.
            Ok(None) => LeaseError::Held {
                name: name.to_owned(),
                holder: "another process".to_owned(),
                until: now,
            },
            Err(error) => LeaseError::Database(error),
        }
    }
}

/// What the renewals tell the holder: whether the lease is lost, and when it was last renewed.
#[derive(Debug)]
struct Renewed {
    lost: Arc<AtomicBool>,
    at: Arc<AtomicU64>,
    since: Instant,
}

/// Renews the lease every third of its length until `stop`, or until a renewal finds it gone.
async fn renew(claim: Claim, renewed: Renewed, stop: CancellationToken) {
    let every = (claim.ttl / 3).to_std().unwrap_or(Duration::from_secs(10));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let asked = renewed.since.elapsed();
        match claim.database.execute_write(claim.renewal()).await {
            Ok(1) => {
                let millis = u64::try_from(asked.as_millis()).unwrap_or(u64::MAX);
                renewed.at.store(millis, Ordering::SeqCst);
            }
            Ok(_) => {
                tracing::warn!(lease = %claim.name, "lease lost: it expired, or another holder took it");
                renewed.lost.store(true, Ordering::SeqCst);
                return;
            }
            // Tried again at the next turn; the lease may still be ours.
            Err(error) => tracing::warn!(lease = %claim.name, %error, "cannot renew the lease"),
        }
    }
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.claim.name
    }

    /// Whether the lease is still this holder's by this process's own reckoning: not found lost,
    /// and renewed less than its length ago (counted from when the renewal was asked). Free: no
    /// database round trip. A holder that acts on this alone may overlap a new holder for as
    /// long as its clock runs ahead; work that must not overlap uses [`confirm`](Lease::confirm).
    pub fn is_current(&self) -> bool {
        let renewed = Duration::from_millis(self.renewed.load(Ordering::SeqCst));
        let ttl = self.claim.ttl.to_std().unwrap_or(Duration::ZERO);
        !self.lost.load(Ordering::SeqCst) && self.since.elapsed() < renewed + ttl
    }

    /// Whether the lease is still this holder's and unexpired, asked inside `tx` by renewing it
    /// there: until `tx` ends, no one else can take the lease (see the module docs).
    pub async fn confirm(&self, tx: &mut Transaction) -> Result<bool, sqlx::Error> {
        if self.lost.load(Ordering::SeqCst) {
            return Ok(false);
        }
        Ok(self.claim.renewal().execute(tx).await? == 1)
    }

    /// Gives the lease up: stops the renewals, waits for them, and deletes the row.
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        self.stop.cancel();
        if let Some(renewal) = self.renewal.take() {
            let _ = renewal.await;
        }
        self.claim
            .database
            .execute_write(
                query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(self.claim.name.as_str())
                    .bind(self.claim.holder.as_str()),
            )
            .await?;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Without renewals the lease expires by itself.
        self.stop.cancel();
    }
}
