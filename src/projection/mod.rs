//! The read side's writer: projections that follow the event log into read tables.
//!
//! A projection is a fold of the log into a table shaped for queries
//! (`read_model = fold(project, empty, events)`). Each one is a [`Follower`] with its own
//! checkpoint, run by the shared follower loop ([`crate::follow`]), so each can be rebuilt
//! alone. A batch's rows and the checkpoint commit in **one** transaction: delivery is
//! at-least-once (a crash before commit replays the batch), the effect exactly-once (each
//! projection also skips events its rows already reflect).
//!
//! One file per read model; each owns its table's row type, its pure fold and its statements.
//! This module reads the log only as it is handed over and writes only its own tables.

pub mod balances;
pub mod ledger;
pub mod transactions;
pub mod transfers;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::db::{Database, Transaction, query};
use crate::domain::account::{self, AccountEvent};
use crate::follow::{CheckpointMove, Fence, FollowError, Follower, rewind_checkpoint};
use crate::store::{RecordedEvent, codec};

/// The read models this service maintains; also the argument of `foldbank rebuild`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::VariantArray,
    clap::ValueEnum,
)]
#[strum(serialize_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum ProjectionName {
    AccountBalances,
    AccountTransactions,
    Transfers,
    LedgerTotals,
}

impl ProjectionName {
    /// The checkpoint name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Every projection this service maintains.
pub fn all() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(balances::BalancesProjection),
        Arc::new(transactions::TransactionsProjection),
        Arc::new(transfers::TransfersProjection),
        Arc::new(ledger::LedgerProjection),
    ]
}

/// One account event of a batch, as stored and as decoded.
pub type Applied<'a> = (&'a RecordedEvent, AccountEvent);

/// One read model, written inside the projector's transaction.
///
/// `apply` receives a batch of account events in global order, and writes what they change in
/// a few statements for the whole batch (read the rows involved, fold in memory, write them
/// back), not a few per event. It must be idempotent: events its rows already reflect change
/// nothing.
#[async_trait::async_trait]
pub trait Projection: Send + Sync + std::fmt::Debug {
    fn name(&self) -> ProjectionName;

    /// The tables this projection writes, emptied by a rebuild.
    fn tables(&self) -> &'static [&'static str];

    async fn apply(&self, tx: &mut Transaction, batch: &[Applied<'_>]) -> Result<(), sqlx::Error>;
}

/// Runs a [`Projection`] as a follower of the log.
#[derive(Debug)]
pub struct Projector {
    projection: Arc<dyn Projection>,
    database: Database,
    faults: Arc<FaultInjector>,
}

impl Projector {
    pub fn new(projection: Arc<dyn Projection>, database: Database, faults: Arc<FaultInjector>) -> Self {
        Projector {
            projection,
            database,
            faults,
        }
    }

    /// A follower for each of [`all`] the projections.
    pub fn all(database: &Database, faults: &Arc<FaultInjector>) -> Vec<Arc<dyn Follower>> {
        all()
            .into_iter()
            .map(|projection| {
                Arc::new(Projector::new(projection, database.clone(), faults.clone())) as Arc<dyn Follower>
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Follower for Projector {
    fn name(&self) -> &'static str {
        self.projection.name().as_str()
    }

    async fn handle(
        &self,
        batch: &[RecordedEvent],
        checkpoint: CheckpointMove,
        _fence: &mut Fence,
    ) -> Result<(), FollowError> {
        let mut events = Vec::with_capacity(batch.len());
        for recorded in batch
            .iter()
            .filter(|recorded| recorded.stream_type == account::STREAM_TYPE)
        {
            events.push((recorded, codec::decode::<AccountEvent>(recorded)?));
        }
        let mut tx = self.database.begin_derived_write().await?;
        match self.faults.fail_after() {
            // A test's fault: apply part of the batch, then fail before the commit.
            Some(part) if part < events.len() => {
                self.projection.apply(&mut tx, &events[..part]).await?;
                return Err(FollowError::Failed(Box::new(InjectedFault(part))));
            }
            _ => self.projection.apply(&mut tx, &events).await?,
        }
        checkpoint.commit_with(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Empties a projection's tables and rewinds its checkpoint to 0, in one transaction, so the
/// projector rebuilds it from the whole log: how a read model recovers from a bug in its code
/// (fix the bug, deploy, rebuild). Safe while the service runs: its projector sees the rewound
/// checkpoint at its next batch.
pub async fn rebuild(database: &Database, name: ProjectionName) -> Result<(), sqlx::Error> {
    let Some(projection) = all().into_iter().find(|projection| projection.name() == name) else {
        return Ok(());
    };
    let mut tx = database.begin_write().await?;
    for table in projection.tables() {
        query(format!("DELETE FROM {table}")).execute(&mut tx).await?;
    }
    rewind_checkpoint(&mut tx, name.as_str()).await?;
    tx.commit().await
}

/// A batch failed on purpose, from a test.
#[derive(Debug, thiserror::Error)]
#[error("injected failure after {0} events of the batch")]
pub struct InjectedFault(usize);

/// Makes batches fail after applying a given number of their events, before commit.
///
/// A test hook for the exactly-once guarantee; disarmed (and free) in normal operation.
#[derive(Debug)]
pub struct FaultInjector {
    fail_after: AtomicI64,
}

impl Default for FaultInjector {
    fn default() -> Self {
        FaultInjector {
            fail_after: AtomicI64::new(-1),
        }
    }
}

impl FaultInjector {
    /// From now on, every batch fails after applying `events` of its events, until [`disarm`].
    ///
    /// [`disarm`]: FaultInjector::disarm
    pub fn fail_batches_after(&self, events: i64) {
        self.fail_after.store(events, Ordering::SeqCst);
    }

    pub fn disarm(&self) {
        self.fail_after.store(-1, Ordering::SeqCst);
    }

    /// After how many events of a batch it must fail, if armed.
    fn fail_after(&self) -> Option<usize> {
        usize::try_from(self.fail_after.load(Ordering::SeqCst)).ok()
    }
}
