//! Checkpoints: how far each follower has handled the log (`projection_checkpoints`).
//!
//! Every statement about checkpoints is here. A checkpoint moves by compare-and-set (from the
//! position the batch started at), so two processes handling the same batch cannot both move
//! it: the second one learns [`FollowError::CheckpointMoved`] and its transaction rolls back.
//!
//! An operator may pause a follower (`POST /projections/{name}/pause`): its row's `paused_at`
//! is set, and a follower's move of a paused checkpoint moves nothing. A pause thus holds from
//! the moment it commits, in every process at once, at no cost to a batch (the condition rides
//! on the compare-and-set); the leader then finds the pause when it reads the checkpoint again
//! ([`load_state`]) and waits without reading the log.

use chrono::{DateTime, Utc};

use crate::db::{Database, Executor, Stored, Transaction, query};
use crate::follow::FollowError;

const SELECT: &str = "SELECT position FROM projection_checkpoints WHERE name = $1";
const CREATE: &str = "INSERT INTO projection_checkpoints (name, position, updated_at) \
    VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING";
const ADVANCE: &str = "UPDATE projection_checkpoints SET position = $1, updated_at = $2 \
    WHERE name = $3 AND position = $4 AND paused_at IS NULL";
/// A rebuild's swap replaces a read model whole, paused or not (it stays paused after).
const SWAP: &str = "UPDATE projection_checkpoints SET position = $1, updated_at = $2 \
    WHERE name = $3 AND position = $4";
const STATE: &str = "SELECT position, paused_at FROM projection_checkpoints WHERE name = $1";
const ALL: &str = "SELECT name, position, paused_at FROM projection_checkpoints ORDER BY name";
const PAUSE: &str = "UPDATE projection_checkpoints SET paused_at = COALESCE(paused_at, $1) WHERE name = $2";
const RESUME: &str = "UPDATE projection_checkpoints SET paused_at = NULL WHERE name = $1";

/// A stored checkpoint, and whether an operator paused its follower.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCheckpoint {
    pub name: String,
    pub position: i64,
    #[sqlx(try_from = "Stored<Option<DateTime<Utc>>>")]
    pub paused_at: Option<DateTime<Utc>>,
}

/// The stored position of `name` and when it was paused (`None`: it runs), creating it at 0
/// on first use. One round trip once the row exists: a leader reads it after every quiet spell.
pub async fn load_state(
    database: &Database,
    name: &str,
) -> Result<(i64, Option<DateTime<Utc>>), sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        position: i64,
        #[sqlx(try_from = "Stored<Option<DateTime<Utc>>>")]
        paused_at: Option<DateTime<Utc>>,
    }
    let row: Option<Row> = query(STATE).bind(name).fetch_optional(database).await?;
    let row = match row {
        Some(row) => row,
        None => {
            load_checkpoint(database, name).await?;
            query(STATE).bind(name).fetch_one(database).await?
        }
    };
    Ok((row.position, row.paused_at))
}

/// Every stored checkpoint of `database`, by name.
pub async fn stored_checkpoints<'e>(
    on: impl Into<Executor<'e>>,
) -> Result<Vec<StoredCheckpoint>, sqlx::Error> {
    query(ALL).fetch_all(on).await
}

/// Pauses (`Some(at)`) or resumes (`None`) the follower `name`: from the commit on, its
/// checkpoint moves no more until resumed. Pausing a paused follower keeps its first
/// `paused_at`.
pub async fn set_paused(
    database: &Database,
    name: &str,
    at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    load_checkpoint(database, name).await?;
    let statement = match at {
        Some(at) => query(PAUSE).bind(at).bind(name),
        None => query(RESUME).bind(name),
    };
    database.execute_write(statement).await?;
    Ok(())
}

/// The stored checkpoint of `name`, creating it at 0 on first use.
pub async fn load_checkpoint(database: &Database, name: &str) -> Result<i64, sqlx::Error> {
    if let Some(position) = read_checkpoint(database, name).await? {
        return Ok(position);
    }
    database
        .execute_write(query(CREATE).bind(name).bind(Utc::now()))
        .await?;
    Ok(read_checkpoint(database, name).await?.unwrap_or(0))
}

/// The stored checkpoint of `name`, if it was ever created (inside a read transaction: the
/// position its other reads reflect).
pub async fn read_checkpoint<'e>(
    on: impl Into<Executor<'e>>,
    name: &str,
) -> Result<Option<i64>, sqlx::Error> {
    query(SELECT).bind(name).fetch_optional_scalar(on).await
}

/// The stored checkpoint of `name`, locked until `tx` ends: the follower's next move of it
/// waits, then finds it moved (see `projection::rebuild`).
pub async fn lock_checkpoint(tx: &mut Transaction, name: &str) -> Result<Option<i64>, sqlx::Error> {
    let select = format!("{SELECT}{}", tx.for_update());
    query(select).bind(name).fetch_optional_scalar(tx).await
}

/// A follower's checkpoint moving from where its batch started to the batch's last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a batch is handled only once its checkpoint moves"]
pub struct CheckpointMove {
    pub name: &'static str,
    pub from: i64,
    pub to: i64,
}

impl CheckpointMove {
    /// Moves it inside `tx`, so the batch's effects and the checkpoint commit together.
    pub async fn commit_with(self, tx: &mut Transaction) -> Result<(), FollowError> {
        let moved = self.statement().execute(tx).await?;
        self.check(moved)
    }

    /// Moves it inside `tx` whether or not its follower is paused: a rebuild's swap, which holds
    /// the row's lock and replaces the read model whole.
    pub async fn swap_with(self, tx: &mut Transaction) -> Result<(), FollowError> {
        let moved = query(SWAP)
            .bind(self.to)
            .bind(Utc::now())
            .bind(self.name)
            .bind(self.from)
            .execute(tx)
            .await?;
        self.check(moved)
    }

    /// Moves it on its own, after effects that happened outside any shared transaction.
    pub async fn record(self, database: &Database) -> Result<(), FollowError> {
        let moved = database.execute_write(self.statement()).await?;
        self.check(moved)
    }

    fn statement(&self) -> crate::db::Query {
        query(ADVANCE)
            .bind(self.to)
            .bind(Utc::now())
            .bind(self.name)
            .bind(self.from)
    }

    fn check(self, moved: u64) -> Result<(), FollowError> {
        if moved == 1 {
            Ok(())
        } else {
            Err(FollowError::CheckpointMoved)
        }
    }
}
