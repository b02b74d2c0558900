//! The read side's handle: [`ReadModels`], which every read model's reads extend (each beside
//! its fold, in `<read model>/reads.rs`), and what they share: the [`Snapshot`] of a read
//! with the position it reflects, the [`Reads`] a query declares, [`QueryError`].
//!
//! Read models are read from the read database ([`Databases::read`], the only one unless the
//! deployment splits them off). Every read runs in one read transaction
//! ([`Database::begin_read`]) that also reads the projection's checkpoint, so the data and the
//! position reported with it (`X-Projection-Position`) come from the same snapshot.

use uuid::Uuid;

use crate::db::{Database, Databases, Stored, Transaction};
use crate::follow::parking::{self, ParkedEvent};
use crate::follow::{StoredCheckpoint, read_checkpoint, stored_checkpoints};
use crate::projection::{ProjectionName, checkpoint_database};
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
    /// The read database: every read model query runs here.
    pub(in crate::projection) database: Database,
    /// Both databases, for the records of followers that keep them beside the log.
    databases: Databases,
}

impl ReadModels {
    pub fn new(databases: Databases) -> Self {
        ReadModels {
            database: databases.read.clone(),
            databases,
        }
    }

    /// The same read models as another database has them: a hot standby of the read
    /// database (see [`crate::projection::replicas`]).
    pub(in crate::projection) fn on(&self, database: Database) -> Self {
        ReadModels {
            database,
            databases: self.databases.clone(),
        }
    }

    /// Who owns an account, as the read model knows it.
    pub async fn owner_of(&self, account_id: Uuid) -> Result<Option<Uuid>, QueryError> {
        let owner: Option<Stored<Uuid>> =
            crate::db::query("SELECT owner_id FROM account_balances WHERE account_id = $1")
                .bind(account_id)
                .fetch_optional_scalar(&self.database)
                .await?;
        Ok(owner.map(|owner| owner.0))
    }

    /// Every event a follower parked, by follower and position, each from the database that
    /// holds its follower's records ([`checkpoint_database`]).
    pub async fn parked_events(&self) -> Result<Vec<ParkedEvent>, QueryError> {
        let mut parked = Vec::new();
        for database in self.databases.each() {
            parked.extend(
                parking::parked_events(database)
                    .await?
                    .into_iter()
                    .filter(|event| self.holds_records_of(database, &event.follower)),
            );
        }
        parked.sort_by(|a, b| (&a.follower, a.position).cmp(&(&b.follower, b.position)));
        Ok(parked)
    }

    /// Every stored follower checkpoint, by name, each from the database that holds it
    /// ([`checkpoint_database`]), with whether its follower is paused.
    pub async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, QueryError> {
        let mut checkpoints = Vec::new();
        for database in self.databases.each() {
            checkpoints.extend(
                stored_checkpoints(database)
                    .await?
                    .into_iter()
                    .filter(|checkpoint| self.holds_records_of(database, &checkpoint.name)),
            );
        }
        checkpoints.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(checkpoints)
    }

    /// Pauses (`Some(at)`) or resumes (`None`) a read model's projection, in the database that
    /// holds its checkpoint (see [`crate::follow::set_paused`]).
    pub async fn set_paused(
        &self,
        projection: ProjectionName,
        at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<(), QueryError> {
        let database = checkpoint_database(&self.databases, projection.as_str());
        crate::follow::set_paused(database, projection.as_str(), at).await?;
        Ok(())
    }

    /// Whether `database` is where `follower` keeps its records. When the databases are split,
    /// the other one may still hold stale records from before the split: they are ignored.
    fn holds_records_of(&self, database: &Database, follower: &str) -> bool {
        if !self.databases.is_split() {
            return true;
        }
        let home = checkpoint_database(&self.databases, follower);
        std::ptr::eq(home, database)
    }
}

/// What a query reads: the read models its answer comes from. A query reports, and a
/// `min_position` waits for, the position every one of them has reached; declared here once,
/// for the query and for the HTTP layer that waits before asking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// `account_balances`: accounts, and owners' summaries.
    Accounts,
    /// An account's movements and balances: `account_transactions` beside `account_balances`,
    /// which their projections update independently.
    Movements,
    /// `transfers`.
    Transfers,
    /// An account's transfers: `transfers`, and `account_balances` for the account itself.
    AccountTransfers,
    /// `ledger_totals`.
    Ledger,
    /// An account's holds: `account_holds`, and `account_balances` for the account itself.
    Holds,
}

impl Reads {
    pub fn read_models(self) -> &'static [ProjectionName] {
        use ProjectionName::*;
        match self {
            Reads::Accounts => &[AccountBalances],
            Reads::Movements => &[AccountTransactions, AccountBalances],
            Reads::Transfers => &[Transfers],
            Reads::AccountTransfers => &[Transfers, AccountBalances],
            Reads::Ledger => &[LedgerTotals],
            Reads::Holds => &[AccountHolds, AccountBalances],
        }
    }
}

/// The position every read model `reads` names has reached, as seen by `tx`'s snapshot: data
/// read from several read models in one snapshot reflects the least advanced of them.
pub(crate) async fn reached(tx: &mut Transaction, reads: Reads) -> Result<i64, sqlx::Error> {
    let mut reached = i64::MAX;
    for name in reads.read_models() {
        let position = read_checkpoint(&mut *tx, name.as_str()).await?.unwrap_or(0);
        reached = reached.min(position);
    }
    Ok(reached)
}

/// Cuts a page fetched with one extra row back to `limit`; the cursor of the last kept row when
/// the extra row showed that another page follows.
pub(crate) fn next_cursor<T, C>(items: &mut Vec<T>, limit: i64, cursor: impl Fn(&T) -> C) -> Option<C> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let more = items.len() > limit;
    items.truncate(limit);
    if more { items.last().map(cursor) } else { None }
}
