//! Coordination between processes that share one database.
//!
//! PostgreSQL offers two tools the service uses: `LISTEN`/`NOTIFY`, so a process learns of
//! appends made by another at once, and session advisory locks, so that one process at a time
//! runs each follower (its leader). SQLite has neither. Processes sharing a SQLite file learn
//! of each other's appends by polling, and elect a leader with a [`Lease`]: a row of `leases`
//! that its holder renews, taken over once it expires. An advisory lock is released the moment
//! its holder's connection dies; a lease only when it expires, so on SQLite a leader that dies
//! is replaced within the lease's length ([`LEADER_LEASE`]).

use std::time::Duration;

use sqlx::Connection;

use crate::db::{Database, Lease, LeaseError, Pool};

/// How long a SQLite leader's lease lasts without renewal (renewed every third of it): longer
/// than a renewal may wait for SQLite's writer behind a long transaction of its own process.
pub const LEADER_LEASE: Duration = Duration::from_secs(10);

/// The PostgreSQL channel the `events` insert trigger notifies (see the migrations).
const APPEND_CHANNEL: &str = "foldbank_events";

impl Database {
    /// Calls `on_append` with the head position every time any process appends to the log,
    /// until the listening connection fails (an error) or forever. Returns at once on a backend
    /// without notifications.
    pub async fn listen_for_appends(&self, on_append: impl Fn(i64) + Send) -> Result<(), sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(APPEND_CHANNEL).await?;
        loop {
            let notification = listener.recv().await?;
            if let Ok(position) = notification.payload().parse::<i64>() {
                on_append(position);
            }
        }
    }

    /// Takes the leadership named `key` if no other process holds it.
    ///
    /// On PostgreSQL the leader holds a session advisory lock on a connection of its own; when
    /// that connection dies the lock is released and another process can take over. On SQLite
    /// it holds the lease `lead:<key>`.
    pub async fn try_lead(&self, key: i64) -> Result<Option<Leadership>, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else {
            return match self.take_lease(&format!("lead:{key}"), LEADER_LEASE).await {
                Ok(lease) => Ok(Some(Leadership::Lease(lease))),
                Err(LeaseError::Held { .. }) => Ok(None),
                Err(LeaseError::Database(error)) => Err(error),
            };
        };
        let mut connection = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        Ok(leader.then_some(Leadership::Lock(connection)))
    }
}

/// Held while this process leads; dropping it gives the leadership up (a lease then expires by
/// itself: [`release`](Leadership::release) it at once when stopping).
#[derive(Debug)]
pub enum Leadership {
    /// A PostgreSQL session advisory lock, on its own connection.
    Lock(sqlx::PgConnection),
    /// A lease (SQLite).
    Lease(Lease),
}

impl Leadership {
    /// Whether the leadership is still held: its lock's connection is alive, or its lease is
    /// current.
    pub async fn is_held(&mut self) -> bool {
        match self {
            Leadership::Lock(connection) => connection.ping().await.is_ok(),
            Leadership::Lease(lease) => lease.is_current(),
        }
    }

    /// Gives the leadership up now, so that a standby need not wait for it to lapse.
    pub async fn release(self) {
        match self {
            Leadership::Lock(connection) => {
                let _ = connection.close().await;
            }
            Leadership::Lease(lease) => {
                if let Err(error) = lease.release().await {
                    tracing::warn!(%error, "cannot release a leadership lease; it expires by itself");
                }
            }
        }
    }
}
