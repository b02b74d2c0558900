//! The query side: reads of the read models, and time travel over the log.
//!
//! Every read runs in one transaction that also reads the projection's checkpoint, so the data
//! and the position reported with it (`X-Projection-Position`) come from the same snapshot
//! (`REPEATABLE READ, READ ONLY` on PostgreSQL; on SQLite in WAL mode a read transaction sees
//! one snapshot from its first read on). Time travel ([`AccountHistory`]) reads the event log instead and folds it up to an
//! instant: the write model as it was.

mod accounts;
mod history;
mod transactions;
mod transfers;

pub use accounts::{AccountFilter, AccountPage};
pub use history::{AccountHistory, PointInTime};
pub use transactions::{BalanceAt, TransactionFilter, TransactionPage};
pub use transfers::{CurrencyTotals, TransferPage};

use crate::db::Database;
use crate::store::StoreError;

/// Data read from a read model, with the checkpoint it reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot<T> {
    pub value: T,
    /// The global position the read model had reached when this was read.
    pub position: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the read models. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadModels {
    database: Database,
}

impl ReadModels {
    pub fn new(database: Database) -> Self {
        ReadModels { database }
    }
}

const CHECKPOINT: &str = "SELECT position FROM projection_checkpoints WHERE name = $1";

/// Opens a read-only PostgreSQL transaction with one snapshot for all its statements.
async fn begin_snapshot(
    pool: &sqlx::PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

async fn checkpoint_postgres(conn: &mut sqlx::PgConnection, name: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> = sqlx::query_scalar(CHECKPOINT)
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(position.unwrap_or(0))
}

async fn checkpoint_sqlite(conn: &mut sqlx::SqliteConnection, name: &str) -> Result<i64, sqlx::Error> {
    let position: Option<i64> = sqlx::query_scalar(CHECKPOINT)
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(position.unwrap_or(0))
}

impl ReadModels {
    /// Every stored projection checkpoint, by name.
    pub async fn checkpoints(&self) -> Result<Vec<(String, i64)>, QueryError> {
        const SQL: &str = "SELECT name, position FROM projection_checkpoints ORDER BY name";
        Ok(match &self.database {
            Database::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
            Database::Sqlite(sqlite) => sqlx::query_as(SQL).fetch_all(&sqlite.pool).await?,
        })
    }
}
