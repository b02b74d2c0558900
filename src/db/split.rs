//! The write database and the read database: one, or two when the read models live apart.
//!
//! CQRS does not need two databases, and by default foldbank uses one. `READ_DATABASE_URL`
//! moves the read side out (level 3 of CQRS): the log stays in the *write* database, the read
//! models in the *read* one, which may even be another engine (the log in PostgreSQL, the read
//! models in a SQLite file beside each instance).
//!
//! | write database (`DATABASE_URL`) | read database (`READ_DATABASE_URL`) |
//! |---|---|
//! | `events`, `snapshots`, idempotency records, `api_keys` | the read-model tables |
//! | the transfer process manager's checkpoint, parked events and leadership | each projection's checkpoint, parked events and leadership |
//!
//! A follower's records live where its effects do, so that they commit together: a
//! projection's checkpoint moves in the transaction that writes its rows (read database); the
//! transfer process manager acts by appending to the log, and its checkpoint, its parked
//! events and its leadership lock stay beside the log (write database).
//!
//! # Why both databases run every migration
//! [`Database::connect`] migrates whatever it connects to with the one migration history of
//! its backend, so the read database also holds an (empty) `events` table and the write
//! database (empty) read-model tables. Splitting the migrations in two would mean two more
//! histories per backend to keep in step, and a deployment could no longer move between one
//! database and two by a setting alone: pointing `READ_DATABASE_URL` at a copy of the single
//! database is a working split, and dropping the setting goes back. Empty tables cost nothing.

use crate::db::{Database, DatabaseError};

/// The write and the read database of a deployment. Cheap to clone: both are pool handles.
#[derive(Debug, Clone)]
pub struct Databases {
    /// The log and everything written with it (see the module docs).
    pub write: Database,
    /// The read models and their projections' checkpoints: [`write`](Databases::write) itself
    /// unless split.
    pub read: Database,
    split: bool,
}

impl Databases {
    /// One database for both sides: the same pool, not a second one.
    pub fn one(database: Database) -> Self {
        Databases {
            read: database.clone(),
            write: database,
            split: false,
        }
    }

    /// The read models in `read`, apart from the log in `write`.
    pub fn split(write: Database, read: Database) -> Self {
        Databases {
            write,
            read,
            split: true,
        }
    }

    /// Connects to (and migrates) the write database at `write_url`, and the read database at
    /// `read_url` when there is one.
    pub async fn connect(
        write_url: &str,
        read_url: Option<&str>,
        max_connections: u32,
    ) -> Result<Self, DatabaseError> {
        let write = Database::connect(write_url, max_connections).await?;
        match read_url {
            Some(read_url) => {
                let read = Database::connect(read_url, max_connections).await?;
                Ok(Databases::split(write, read))
            }
            None => Ok(Databases::one(write)),
        }
    }

    /// Whether the read models live in a database of their own.
    pub fn is_split(&self) -> bool {
        self.split
    }

    /// Each database once: the write one, then the read one when split.
    pub fn each(&self) -> impl Iterator<Item = &Database> {
        std::iter::once(&self.write).chain(self.split.then_some(&self.read))
    }

    /// Closes every connection of both.
    pub async fn close(&self) {
        for database in self.each() {
            database.close().await;
        }
    }
}

impl From<Database> for Databases {
    fn from(database: Database) -> Self {
        Databases::one(database)
    }
}
