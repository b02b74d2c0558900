//! The hold expiry scheduler: a command sent when a deadline passes, exactly once in effect.
//!
//! A hold's deadline is a fact of the log (`HoldPlaced.expires_at`), folded into the
//! `account_holds` read model, which every process shares. Nothing about it lives in memory:
//! every second the scheduler asks that read model for the open holds whose deadline has
//! passed ([`ReadModels::due_holds`]) and sends `ExpireHold` for each through the command
//! pipeline, as a client would send a capture. A process that starts late, after a crash or
//! with every process stopped across a deadline, finds the overdue holds at its first round.
//!
//! **Exactly once** is not the scheduler's promise but the decider's: it delivers at least
//! once (a round may resend what the read model does not show expired yet; a standby that
//! took over may resend what a dead leader sent), and `ExpireHold` on a hold that is no longer
//! open decides no events (`is_repeated_hold_step`). A capture or a void racing the expiry is
//! settled by the append's expected version: one of them is written, the other is decided
//! again on the new state and finds the hold closed (`409 hold-not-open`, or no events).
//!
//! One process at a time runs the rounds, as one runs each follower (the leadership of
//! [`NAME`]: a PostgreSQL advisory lock, or a SQLite lease): not for safety, which the decider
//! gives, but so that two processes do not each load every due account. When the leader dies,
//! a standby takes over within a round (PostgreSQL) or the lease's length (SQLite).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::command::{AccountCommandHandler, CommandError, Precondition};
use crate::db::Database;
use crate::domain::account::{AccountCommand, AccountError, ExpireHold};
use crate::domain::ids::{AccountId, HoldId};
use crate::follow::{Followers, leadership_key};
use crate::projection::{DueHold, ProjectionName, QueryError, ReadModels};

/// The name of the scheduler's leadership.
pub const NAME: &str = "hold_expiry";

/// How many due holds one round expires at most (the rest wait for the next round).
pub const ROUND: i64 = 100;

/// How long a round waits for `account_holds` to show what it expired, so that the next
/// round does not send those expiries again.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error("cannot read the due holds")]
    Query(#[from] QueryError),
    #[error("cannot expire hold {hold_id} of account {account_id}")]
    Command {
        account_id: AccountId,
        hold_id: HoldId,
        #[source]
        error: CommandError,
    },
}

/// Expires holds whose deadline has passed.
#[derive(Debug, Clone)]
pub struct HoldExpiry {
    /// The write database, where the leadership is held.
    pub database: Database,
    pub read_models: ReadModels,
    pub commands: AccountCommandHandler,
    pub clock: Arc<dyn Clock>,
    /// To wait for `account_holds` to reflect a round.
    pub followers: Followers,
    /// Between two rounds.
    pub every: Duration,
}

impl HoldExpiry {
    /// Runs rounds while this process leads, until `stop`.
    pub fn start(self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run(stop).await })
    }

    async fn run(self, stop: CancellationToken) {
        let key = leadership_key(NAME);
        let mut standing_by = false;
        loop {
            let leadership = match self.database.try_lead(key).await {
                Ok(Some(leadership)) => Some(leadership),
                Ok(None) => {
                    if !standing_by {
                        tracing::info!(scheduler = NAME, "another process expires holds; standing by");
                        standing_by = true;
                    }
                    None
                }
                Err(error) => {
                    tracing::warn!(scheduler = NAME, %error, "cannot check leadership; retrying");
                    None
                }
            };
            let Some(mut leadership) = leadership else {
                if self.pause(&stop).await {
                    return;
                }
                continue;
            };
            if standing_by {
                tracing::info!(scheduler = NAME, "took over the expiry of holds");
            }
            loop {
                match self.expire_due().await {
                    Ok(0) => {}
                    Ok(expired) => tracing::info!(scheduler = NAME, expired, "expired holds"),
                    Err(error) => tracing::warn!(
                        scheduler = NAME,
                        error = %crate::telemetry::error_chain(&error),
                        "expiry round failed; trying again next round"
                    ),
                }
                if self.pause(&stop).await {
                    leadership.release().await;
                    return;
                }
                if !leadership.is_held().await {
                    tracing::warn!(scheduler = NAME, "lost the leadership");
                    break;
                }
            }
        }
    }

    /// Waits a round's interval; whether `stop` came first.
    async fn pause(&self, stop: &CancellationToken) -> bool {
        tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(self.every) => false,
        }
    }

    /// One round: sends `ExpireHold` for every hold due now (up to [`ROUND`]); answers how
    /// many expiries were recorded (a hold settled meanwhile records none).
    pub async fn expire_due(&self) -> Result<usize, ExpiryError> {
        let due = self.read_models.due_holds(self.clock.now(), ROUND).await?;
        let mut expired = 0;
        let mut last_position = None;
        for hold in due {
            if let Some(position) = self.expire(&hold).await? {
                expired += 1;
                last_position = Some(position);
            }
        }
        if let Some(position) = last_position {
            let holds = [ProjectionName::AccountHolds.as_str()];
            // Late is fine: the next round then resends expiries that record nothing.
            let _ = self.followers.wait_for(&holds, position, SETTLE).await;
        }
        Ok(expired)
    }

    /// Expires one hold; the position of its `HoldExpired`, if this call recorded it.
    async fn expire(&self, hold: &DueHold) -> Result<Option<i64>, ExpiryError> {
        let account_id = AccountId(hold.account_id);
        let hold_id = HoldId(hold.hold_id);
        let expired = self
            .commands
            .handle(account_id, Precondition::None, None, |stamp| {
                AccountCommand::ExpireHold(ExpireHold {
                    hold_id,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await;
        match expired {
            Ok(outcome) if outcome.events.is_empty() => Ok(None),
            Ok(outcome) => Ok(Some(outcome.position)),
            // This process's clock is behind the one that read the deadline: next round.
            Err(CommandError::Rejected(AccountError::HoldNotDue { .. })) => Ok(None),
            Err(error) => Err(ExpiryError::Command {
                account_id,
                hold_id,
                error,
            }),
        }
    }
}
