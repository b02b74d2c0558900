//! The overdraft fee policy: `AccountOverdrawn` → `ChargeOverdraftFee`.
//!
//! An account opened with an `overdraft_fee` records `AccountOverdrawn` when a withdrawal, a
//! transfer's debit or a hold's capture takes its balance from zero or more to below zero. This
//! policy follows the log from its checkpoint (`overdraft_fee_policy`) and, for each such event,
//! asks the same account to charge the fee of that crossing. It keeps no state and reads nothing
//! else: the command names its cause (the movement that crossed), and the account's decider
//! charges a cause once, answering a repeat with no events.
//!
//! So delivery may be at least once, as it is: a batch replayed after a crash, a checkpoint
//! rewound on purpose, a standby that takes over, or two processes sending the same charge at
//! once (the append's expected version lets one write; the other is decided again and finds
//! the fee charged). An account does not close while a fee is due, so none is escaped by
//! timing; a fee that would take the balance below the floor every balance keeps
//! (`-MAX_BALANCE_MINOR_UNITS`) is waived, with a warning, rather than parked for ever.
//!
//! It is a [`Reaction`]: the shared follower loop ([`crate::follow`]) runs it in one process at
//! a time (the follower's leadership) and moves its checkpoint once per batch.

use std::sync::Arc;

use crate::command::{AccountCommandHandler, CommandError, Precondition};
use crate::db::Database;
use crate::domain::account::{
    self, AccountCommand, AccountError, AccountEvent, AccountEventType, ChargeOverdraftFee,
};
use crate::domain::ids::AccountId;
use crate::follow::{FollowError, Follower, Reacting, Reaction};
use crate::store::{RecordedEvent, codec};

/// The checkpoint name, also shown by `GET /projections`.
pub const NAME: &str = "overdraft_fee_policy";

/// The overdraft fee policy, as a follower of the log.
#[derive(Debug)]
pub struct OverdraftFeePolicy {
    /// The write database: the checkpoint, the parked events, the leadership.
    database: Database,
    commands: AccountCommandHandler,
}

impl OverdraftFeePolicy {
    /// The policy, as a follower of the log.
    pub fn follower(database: Database, commands: AccountCommandHandler) -> Arc<dyn Follower> {
        Reacting::follower(OverdraftFeePolicy { database, commands })
    }
}

#[async_trait::async_trait]
impl Reaction for OverdraftFeePolicy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn database(&self) -> &Database {
        &self.database
    }

    fn reacts_to(&self, event: &RecordedEvent) -> bool {
        event.stream_type == account::STREAM_TYPE
            && event.event_type.parse() == Ok(AccountEventType::AccountOverdrawn)
    }

    async fn react(&self, event: &RecordedEvent) -> Result<(), FollowError> {
        charge(&self.commands, event).await
    }
}

/// Asks the account that recorded `overdrawn` to charge the fee of that crossing.
#[tracing::instrument(skip_all, fields(position = overdrawn.global_position))]
async fn charge(commands: &AccountCommandHandler, overdrawn: &RecordedEvent) -> Result<(), FollowError> {
    let AccountEvent::AccountOverdrawn { transaction_id, .. } =
        codec::decode::<AccountEvent>(overdrawn).map_err(FollowError::Store)?
    else {
        return Ok(());
    };
    let account = AccountId(overdrawn.stream_id);
    let correlation_id = overdrawn.metadata["correlation_id"].as_str();
    let charged = commands
        .handle(account, Precondition::None, correlation_id, |stamp| {
            AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee {
                cause: transaction_id,
                transaction_id: stamp.transaction_id,
                occurred_at: stamp.occurred_at,
            })
        })
        .await;
    match charged {
        Ok(_) => Ok(()),
        Err(CommandError::Rejected(AccountError::Overflow)) => {
            tracing::warn!(%account, cause = %transaction_id, "an overdraft fee would take the balance below its floor; waived");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}
