//! Coordination between processes that share one database.
//!
//! PostgreSQL offers two tools the service uses: `LISTEN`/`NOTIFY`, so a process learns of
//! appends made by another at once, and session advisory locks, so only one process acts as
//! the transfer manager. SQLite has neither: a SQLite file is served by one process, which
//! learns of its own appends directly and is always the leader.

use sqlx::Connection;

use crate::db::{Database, Pool};

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
    /// that connection dies the lock is released and another process can take over.
    pub async fn try_lead(&self, key: i64) -> Result<Option<Leadership>, sqlx::Error> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(Some(Leadership { connection: None }));
        };
        let mut connection = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut connection)
            .await?;
        Ok(leader.then_some(Leadership {
            connection: Some(connection),
        }))
    }
}

/// Held while this process leads; dropping it gives the leadership up.
#[derive(Debug)]
pub struct Leadership {
    connection: Option<sqlx::PgConnection>,
}

impl Leadership {
    /// Whether the leadership is still held (its connection is alive).
    pub async fn is_held(&mut self) -> bool {
        match &mut self.connection {
            Some(connection) => connection.ping().await.is_ok(),
            None => true,
        }
    }
}
