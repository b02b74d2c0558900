//! Leases: one holder at a time for a named piece of work, across every process that shares a
//! database, on both backends.
//!
//! A lease is a row of `leases` (see `migrations/*/0011_leases.sql`): taken when it is free or
//! expired, renewed in the background while its holder works, deleted when the work is done. A
//! holder that dies stops renewing, so its lease expires and the work can be taken up again.
//! Work that must not be finished by a holder that lost its lease (because it was paused past
//! the expiry, say) checks [`Lease::confirm`] in the transaction that finishes it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, Stored, Transaction, query};

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

/// A lease this process holds; renewed until it is released or dropped.
#[derive(Debug)]
pub struct Lease {
    database: Database,
    name: String,
    holder: String,
    lost: Arc<AtomicBool>,
    renewal: tokio::task::JoinHandle<()>,
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
        let holder = format!("process {} ({})", std::process::id(), Uuid::now_v7());
        let ttl = chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::seconds(30));
        let now = Utc::now();
        let taken = self
            .execute_write(
                query(
                    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                     expires_at = excluded.expires_at WHERE leases.expires_at < $4",
                )
                .bind(name)
                .bind(holder.as_str())
                .bind(now + ttl)
                .bind(now),
            )
            .await?;
        if taken == 0 {
            let current: Option<Holder> = query("SELECT holder, expires_at FROM leases WHERE name = $1")
                .bind(name)
                .fetch_optional(self)
                .await?;
            return Err(match current {
                Some(current) => LeaseError::Held {
                    name: name.to_owned(),
                    holder: current.holder,
                    until: current.expires_at,
                },
                // Released between the two statements: as good as held a moment ago.
                None => LeaseError::Held {
                    name: name.to_owned(),
                    holder: "another process".to_owned(),
                    until: now,
                },
            });
        }
        let lost = Arc::new(AtomicBool::new(false));
        let renewal = tokio::spawn(renew(
            self.clone(),
            name.to_owned(),
            holder.clone(),
            ttl,
            lost.clone(),
        ));
        Ok(Lease {
            database: self.clone(),
            name: name.to_owned(),
            holder,
            lost,
            renewal,
        })
    }
}

/// Renews the lease every third of `ttl` until a renewal finds it gone.
async fn renew(
    database: Database,
    name: String,
    holder: String,
    ttl: chrono::TimeDelta,
    lost: Arc<AtomicBool>,
) {
    let every = (ttl / 3).to_std().unwrap_or(Duration::from_secs(10));
    loop {
        tokio::time::sleep(every).await;
        let renewed = database
            .execute_write(
                query("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
                    .bind(name.as_str())
                    .bind(holder.as_str())
                    .bind(Utc::now() + ttl),
            )
            .await;
        match renewed {
            Ok(0) => {
                tracing::warn!(lease = %name, "lease lost: another holder took it");
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Ok(_) => {}
            // Tried again at the next turn; the lease may still be ours.
            Err(error) => tracing::warn!(lease = %name, %error, "cannot renew the lease"),
        }
    }
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the lease is still this holder's and unexpired, read inside `tx`: check it in
    /// the transaction that finishes the work.
    pub async fn confirm(&self, tx: &mut Transaction) -> Result<bool, sqlx::Error> {
        if self.lost.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let held: Option<i64> =
            query("SELECT CAST(1 AS BIGINT) FROM leases WHERE name = $1 AND holder = $2 AND expires_at > $3")
                .bind(self.name.as_str())
                .bind(self.holder.as_str())
                .bind(Utc::now())
                .fetch_optional_scalar(tx)
                .await?;
        Ok(held.is_some())
    }

    /// Gives the lease up.
    pub async fn release(self) -> Result<(), sqlx::Error> {
        self.renewal.abort();
        self.database
            .execute_write(
                query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                    .bind(self.name.as_str())
                    .bind(self.holder.as_str()),
            )
            .await?;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Without renewals the lease expires by itself.
        self.renewal.abort();
    }
}
