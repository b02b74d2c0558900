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
//! It is a [`Reaction`]: the shared follower loop ([`crate::follow`]) runs it and moves its
//! checkpoint once per batch. One manager acts at a time: the running instance holds the follower's leadership (a
//! PostgreSQL advisory lock, or a SQLite lease; other processes wait as standbys).

use std::sync::Arc;

use crate::command::{AccountCommandHandler, CommandError, CommandOptions, Companion, Precondition, Stamp};
use crate::db::Database;
use crate::domain::account::{
    self, AccountCommand, AccountError, AccountEvent, AccountEventType, AccountState, CompleteTransfer,
    CreditTransfer, RefundReason, RefundTransfer, TransferStatus,
};
use crate::domain::ids::{AccountId, TransferId};
use crate::domain::transfer::{Outcome, TransferCommand, TransferDecider};
use crate::follow::{FollowError, Follower, Reacting, Reaction};
use crate::store::{RecordedEvent, StoreError, codec};

/// The checkpoint name, also shown by `GET /projections`.
pub const NAME: &str = "transfer_process";

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl From<ProcessError> for FollowError {
    /// The store failing is waited out; a command's failure is treated as every follower's
    /// (see `From<CommandError>`).
    fn from(error: ProcessError) -> Self {
        match error {
            ProcessError::Store(error) => FollowError::Store(error),
            ProcessError::Command(error) => error.into(),
        }
    }
}

/// The transfer process manager, as a follower of the log.
#[derive(Debug)]
pub struct TransferProcess {
    /// The write database: the checkpoint, the parked events, the leadership.
    database: Database,
    commands: AccountCommandHandler,
}

impl TransferProcess {
    /// The process manager, as a follower of the log.
    pub fn follower(database: Database, commands: AccountCommandHandler) -> Arc<dyn Follower> {
        Reacting::follower(TransferProcess { database, commands })
    }
}

#[async_trait::async_trait]
impl Reaction for TransferProcess {
    fn name(&self) -> &'static str {
        NAME
    }

    fn database(&self) -> &Database {
        &self.database
    }

    /// Only debits start a settlement; the type says so without decoding the payload.
    fn reacts_to(&self, event: &RecordedEvent) -> bool {
        event.stream_type == account::STREAM_TYPE
            && event.event_type.parse() == Ok(AccountEventType::TransferDebited)
    }

    /// Settles the transfer `event` debited: every step is idempotent, so a replayed or a
    /// parked debit settles once.
    async fn react(&self, event: &RecordedEvent) -> Result<(), FollowError> {
        Ok(settle(&self.commands, event).await?)
    }
}

/// Credits the destination of the transfer `debited` records, or refunds the source.
///
/// The outcome is recorded on the transfer's own stream in the same transaction as the credit
/// or the refund (`TransferSettled`, at the version after `TransferRequested`), so of two managers
/// settling the same transfer at once (two processes, or a leader that lost its lock mid-way)
/// exactly one writes; the other learns the recorded outcome and follows it. A transfer is never
/// both credited and refunded.
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
    let step = Step {
        commands,
        source,
        transfer_id,
        correlation_id: debited.metadata["correlation_id"].as_str().map(str::to_owned),
    };

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
        .handle_with(to_account, step.options(Outcome::Credited), |stamp| {
            AccountCommand::CreditTransfer(CreditTransfer {
                transfer_id,
                transaction_id: stamp.transaction_id,
                from_account: source,
                amount,
                currency,
                description: description.clone(),
                occurred_at: stamp.occurred_at,
            })
        })
        .await;
    match credited {
        Ok(_) | Err(CommandError::TransferSettledOtherwise(Outcome::Credited)) => step.complete().await,
        // Refunded by another manager, in the same transaction that recorded it: done.
        Err(CommandError::TransferSettledOtherwise(Outcome::Refunded { .. })) => Ok(()),
        // No account has that id (it may name another kind of stream, such as a transfer).
        Err(CommandError::AccountNotFound(_) | CommandError::IdInUse(_)) => {
            step.refund(RefundReason::DestinationNotFound).await
        }
        Err(CommandError::Rejected(refusal)) => step.refund(refusal_reason(&refusal)).await,
        Err(error) => Err(error.into()),
    }
}

/// The settlement of one transfer, on its source.
struct Step<'a> {
    commands: &'a AccountCommandHandler,
    source: AccountId,
    transfer_id: TransferId,
    correlation_id: Option<String>,
}

impl Step<'_> {
    /// The options of a command that records `outcome` on the transfer's stream.
    fn options(&self, outcome: Outcome) -> CommandOptions {
        let transfer_id = self.transfer_id;
        CommandOptions {
            correlation_id: self.correlation_id.clone(),
            companion: Some(Companion::new::<TransferDecider, _>(
                transfer_id,
                move |stamp: &Stamp| TransferCommand::Settle {
                    transfer_id,
                    outcome,
                    occurred_at: stamp.occurred_at,
                },
            )),
            ..CommandOptions::default()
        }
    }

    /// The source learns its transfer was credited.
    async fn complete(&self) -> Result<(), ProcessError> {
        let transfer_id = self.transfer_id;
        let completed = self
            .commands
            .handle(
                self.source,
                Precondition::None,
                self.correlation_id.as_deref(),
                |stamp| {
                    AccountCommand::CompleteTransfer(CompleteTransfer {
                        transfer_id,
                        occurred_at: stamp.occurred_at,
                    })
                },
            )
            .await;
        match completed {
            // Completed already (by another manager): nothing left to do.
            Ok(_) | Err(CommandError::Rejected(AccountError::TransferNotFound(_))) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// The destination refused: the money goes back to the source (compensation), unless
    /// another manager credited it meanwhile, in which case the source completes.
    async fn refund(&self, reason: RefundReason) -> Result<(), ProcessError> {
        let transfer_id = self.transfer_id;
        tracing::info!(%transfer_id, %reason, "destination refused the transfer; refunding the source");
        let refunded = self
            .commands
            .handle_with(self.source, self.options(Outcome::Refunded { reason }), |stamp| {
                AccountCommand::RefundTransfer(RefundTransfer {
                    transfer_id,
                    transaction_id: stamp.transaction_id,
                    reason,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await;
        match refunded {
            Ok(_)
            | Err(CommandError::TransferSettledOtherwise(Outcome::Refunded { .. }))
            | Err(CommandError::Rejected(AccountError::TransferNotFound(_))) => Ok(()),
            Err(CommandError::TransferSettledOtherwise(Outcome::Credited)) => self.complete().await,
            Err(error) => Err(error.into()),
        }
    }
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
