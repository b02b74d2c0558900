//! The transfer process manager.
//!
//! It follows the log from its checkpoint (`transfer_process`) and, for every `TransferDebited`
//! it has not settled yet:
//! 1. credits the destination (`CreditTransfer`);
//! 2. on success marks the transfer completed on the source (`CompleteTransfer`);
//! 3. if the destination refuses (unknown, closed, another currency) refunds the source
//!    (`RefundTransfer`) with the reason.
//!
//! Delivery is at-least-once (the checkpoint moves after the commands), so every step is
//! idempotent by `transfer_id` in the deciders: a destination is never credited twice and a
//! source never refunded twice, however often an event is replayed. Before crediting, the
//! manager checks the source still has the transfer pending, so a transfer that was refunded is
//! never credited later.
//!
//! One manager acts at a time: on PostgreSQL the running instance holds a session advisory lock
//! (other processes wait as standbys); on SQLite the service is single-process.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::Connection;
use tokio::task::JoinHandle;

use crate::command::{AccountCommandHandler, CommandError, Precondition};
use crate::db::Database;
use crate::domain::account::{
    self, AccountCommand, AccountError, AccountEvent, AccountState, RefundReason, TransferStatus,
};
use crate::domain::ids::AccountId;
use crate::projection::runner::{
    MAX_BACKOFF, MIN_BACKOFF, advance_checkpoint, error_chain, idle, load_checkpoint,
};
use crate::projection::{ProjectionError, Projections};
use crate::store::{EventStore, RecordedEvent, StoreError, codec};

/// The checkpoint name, also shown by `GET /projections`.
pub const NAME: &str = "transfer_process";

/// The advisory lock key of the manager's leadership on PostgreSQL.
const LEADER_LOCK_KEY: i64 = 0x666f_6c64_7472_6e73;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Projection(#[from] ProjectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("lost the leadership connection")]
    LostLeadership,
}

#[derive(Debug, Clone)]
pub struct TransferProcessSettings {
    pub batch_size: i64,
    pub poll_interval: Duration,
}

impl Default for TransferProcessSettings {
    fn default() -> Self {
        TransferProcessSettings {
            batch_size: 100,
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// The running manager; dropping it stops it.
#[derive(Debug)]
pub struct TransferProcess {
    task: JoinHandle<()>,
}

impl Drop for TransferProcess {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TransferProcess {
    pub fn start(
        database: Database,
        store: Arc<dyn EventStore>,
        commands: AccountCommandHandler,
        projections: Projections,
        settings: TransferProcessSettings,
    ) -> TransferProcess {
        TransferProcess {
            task: tokio::spawn(run(database, store, commands, projections, settings)),
        }
    }
}

async fn run(
    database: Database,
    store: Arc<dyn EventStore>,
    commands: AccountCommandHandler,
    projections: Projections,
    settings: TransferProcessSettings,
) {
    let mut wake = projections.head_changes();
    let mut backoff = MIN_BACKOFF;
    loop {
        // Leadership: on PostgreSQL hold the advisory lock on a connection of our own for as
        // long as we act; if that connection dies, the lock is released and we must stop.
        let mut leader = match &database {
            Database::Postgres(pool) => match become_leader(pool).await {
                Ok(Some(connection)) => Some(connection),
                Ok(None) => {
                    tokio::time::sleep(settings.poll_interval).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(error = %error, "transfer process cannot check leadership; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
            Database::Sqlite(_) => None,
        };
        loop {
            wake.borrow_and_update();
            match step(
                &database,
                &*store,
                &commands,
                &projections,
                &settings,
                leader.as_mut(),
            )
            .await
            {
                Ok(handled) => {
                    backoff = MIN_BACKOFF;
                    projections.record_error(NAME, None, Utc::now());
                    if handled == 0 {
                        idle(&mut wake, settings.poll_interval).await;
                    }
                }
                Err(ProcessError::LostLeadership) => {
                    tracing::warn!("transfer process lost its leadership connection; standing by");
                    break;
                }
                Err(ProcessError::Projection(ProjectionError::CheckpointMoved)) => {
                    // Another process moved it: look again shortly, without spinning.
                    tokio::time::sleep(MIN_BACKOFF).await;
                }
                Err(error) => {
                    let message = error_chain(&error);
                    tracing::warn!(error = %message, ?backoff, "transfer process step failed; retrying");
                    projections.record_error(NAME, Some(message), Utc::now());
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// A dedicated connection holding the leadership lock, or `None` if another process holds it.
async fn become_leader(pool: &sqlx::PgPool) -> Result<Option<sqlx::PgConnection>, sqlx::Error> {
    let mut connection = sqlx::PgConnection::connect_with(&pool.connect_options()).await?;
    let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK_KEY)
        .fetch_one(&mut connection)
        .await?;
    Ok(leader.then_some(connection))
}

/// Handles the next batch of events; returns how many it looked at (0: caught up).
async fn step(
    database: &Database,
    store: &dyn EventStore,
    commands: &AccountCommandHandler,
    projections: &Projections,
    settings: &TransferProcessSettings,
    mut leader: Option<&mut sqlx::PgConnection>,
) -> Result<usize, ProcessError> {
    let mut checkpoint = load_checkpoint(database, NAME).await?;
    projections.record_checkpoint(NAME, checkpoint);
    let batch = store.read_all(checkpoint, settings.batch_size).await?;
    for recorded in &batch {
        if recorded.stream_type == account::STREAM_TYPE {
            if let AccountEvent::TransferDebited { .. } = codec::decode::<AccountEvent>(recorded)? {
                // Still the leader? Checked before every settlement, not once per batch, so a
                // standby that took over finds at most one settlement in progress.
                if let Some(connection) = leader.as_deref_mut() {
                    connection
                        .ping()
                        .await
                        .map_err(|_| ProcessError::LostLeadership)?;
                }
                settle(commands, recorded).await?;
            }
        }
        advance_checkpoint(database, NAME, checkpoint, recorded.global_position).await?;
        checkpoint = recorded.global_position;
        projections.record_checkpoint(NAME, checkpoint);
    }
    Ok(batch.len())
}

/// Credits the destination of the transfer `debited` records, or refunds the source.
#[tracing::instrument(skip_all, fields(position = debited.global_position))]
async fn settle(commands: &AccountCommandHandler, debited: &RecordedEvent) -> Result<(), ProcessError> {
    let AccountEvent::TransferDebited {
        transfer_id,
        to_account,
        amount,
        currency,
        description,
        ..
    } = codec::decode::<AccountEvent>(debited)?
    else {
        return Ok(());
    };
    let source = AccountId(debited.stream_id);
    let correlation_id = debited.metadata["correlation_id"].as_str();

    let pending = match commands.load(source).await?.state {
        AccountState::Opened(account) => account
            .transfers_out
            .get(&transfer_id)
            .is_some_and(|transfer| transfer.status == TransferStatus::Pending),
        AccountState::NotOpened => false,
    };
    if !pending {
        return Ok(());
    }

    let credited = commands
        .handle(to_account, Precondition::None, correlation_id, |stamp| {
            AccountCommand::CreditTransfer {
                transfer_id,
                transaction_id: stamp.transaction_id,
                from_account: source,
                amount,
                currency,
                description: description.clone(),
                occurred_at: stamp.occurred_at,
            }
        })
        .await;
    let next = match credited {
        Ok(_) => {
            commands
                .handle(source, Precondition::None, correlation_id, |stamp| {
                    AccountCommand::CompleteTransfer {
                        transfer_id,
                        occurred_at: stamp.occurred_at,
                    }
                })
                .await
        }
        Err(CommandError::AccountNotFound(_)) => {
            refund(
                commands,
                source,
                transfer_id,
                correlation_id,
                RefundReason::DestinationNotFound,
            )
            .await
        }
        Err(CommandError::Rejected(refusal)) => {
            refund(
                commands,
                source,
                transfer_id,
                correlation_id,
                refusal_reason(&refusal),
            )
            .await
        }
        Err(error) => return Err(error.into()),
    };
    match next {
        Ok(_) => Ok(()),
        // Settled by someone else between our check and our step: only possible if two managers
        // ran at once, which leadership exists to prevent. Loud, because it must not happen.
        Err(CommandError::Rejected(AccountError::TransferNotFound(_))) => {
            tracing::error!(%transfer_id, "transfer settled concurrently by another manager");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

async fn refund(
    commands: &AccountCommandHandler,
    source: AccountId,
    transfer_id: crate::domain::ids::TransferId,
    correlation_id: Option<&str>,
    reason: RefundReason,
) -> Result<crate::command::CommandOutcome, CommandError> {
    tracing::info!(%transfer_id, %reason, "destination refused the transfer; refunding the source");
    commands
        .handle(source, Precondition::None, correlation_id, |stamp| {
            AccountCommand::RefundTransfer {
                transfer_id,
                transaction_id: stamp.transaction_id,
                reason,
                occurred_at: stamp.occurred_at,
            }
        })
        .await
}

/// The stable reason code a transfer fails with when the destination refuses it.
fn refusal_reason(refusal: &AccountError) -> RefundReason {
    match refusal {
        AccountError::NotOpened => RefundReason::DestinationNotFound,
        AccountError::AccountClosed => RefundReason::DestinationClosed,
        AccountError::CurrencyMismatch { .. } => RefundReason::CurrencyMismatch,
        AccountError::Overflow => RefundReason::DestinationBalanceOverflow,
        AccountError::TransferIdReused(_) => RefundReason::TransferIdReused,
        _ => RefundReason::DestinationRefused,
    }
}
