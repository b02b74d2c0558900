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
//! once (a standby that took over may resend what a dead leader sent; a hold it sent rests for
//! `REST` (30 s) before it is sent again, should the read model still show it open), and
//! `ExpireHold` on a hold that is no longer open decides no events (`is_repeated_hold_step`). A capture or a void racing the expiry is
//! settled by the append's expected version: one of them is written, the other is decided
//! again on the new state and finds the hold closed (`409 hold-not-open`, or no events).
//!
//! One process at a time runs the rounds, as one runs each follower (the leadership of
//! [`NAME`]: a PostgreSQL advisory lock, or a SQLite lease): not for safety, which the decider
//! gives, but so that two processes do not each load every due account. When the leader dies,
//! a standby takes over within `STANDBY_ASK` (5 s) (PostgreSQL) or the lease's length (SQLite).
//!
//! A hold whose expiry fails (an account the log cannot load, a conflict that outlasted the
//! retries) is logged and rests; the round goes on with the holds behind it. "On time" is by
//! the leader's clock: hosts that share a database keep their clocks in step (NTP).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::clock::Clock;
use crate::command::{AccountCommandHandler, CommandError, Precondition};
use crate::db::Database;
use crate::domain::account::{AccountCommand, AccountError, ExpireHold};
use crate::domain::ids::{AccountId, HoldId};
use crate::process::led::run_while_leading;
use crate::projection::{DueHold, QueryError, ReadModels};

/// The name of the scheduler's leadership.
pub const NAME: &str = "hold_expiry";

/// How many due holds one round sends at most; a full round is followed by the next at once.
pub const ROUND: i64 = 100;

/// How long a hold this scheduler sent is left alone: the read model may not show its expiry
/// yet (it follows the log), and a hold whose expiry failed waits before it is tried again,
/// rather than hold up the holds behind it round after round.
const REST: Duration = Duration::from_secs(30);

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Expiries recorded (a hold settled meanwhile records none).
    pub expired: usize,
    /// Holds whose expiry failed (logged; tried again after `REST` (30 s)).
    pub failed: usize,
    /// Whether the round sent [`ROUND`] holds: more may be due.
    pub full: bool,
}

/// Expires holds whose deadline has passed.
#[derive(Debug, Clone)]
pub struct HoldExpiry {
    /// The write database, where the leadership is held.
    database: Database,
    read_models: ReadModels,
    commands: AccountCommandHandler,
    clock: Arc<dyn Clock>,
    /// Between two rounds.
    every: Duration,
    /// The holds sent lately, and until when they are left alone.
    resting: Arc<Mutex<HashMap<(Uuid, Uuid), Instant>>>,
}

impl HoldExpiry {
    pub fn new(
        database: Database,
        read_models: ReadModels,
        commands: AccountCommandHandler,
        clock: Arc<dyn Clock>,
        every: Duration,
    ) -> Self {
        HoldExpiry {
            database,
            read_models,
            commands,
            clock,
            every,
            resting: Arc::default(),
        }
    }

    /// Runs rounds while this process leads, until `stop`.
    pub fn start(self, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run(stop).await })
    }

    async fn run(self, stop: CancellationToken) {
        let this = &self;
        run_while_leading(&self.database, NAME, self.every, &stop, move || async move {
            let round = match this.expire_due().await {
                Ok(round) => round,
                Err(error) => {
                    tracing::warn!(
                        scheduler = NAME,
                        error = %crate::telemetry::error_chain(&error),
                        "cannot read the due holds; trying again next round"
                    );
                    Round::default()
                }
            };
            if round.expired > 0 || round.failed > 0 {
                tracing::info!(
                    scheduler = NAME,
                    expired = round.expired,
                    failed = round.failed,
                    "expiry round"
                );
            }
            round.full
        })
        .await;
    }

    /// One round: sends `ExpireHold` for every hold due now (up to [`ROUND`]) that is not
    /// resting. A hold whose expiry fails is logged and left for later; the round goes on.
    pub async fn expire_due(&self) -> Result<Round, QueryError> {
        let resting = self.resting_now();
        let limit = ROUND.saturating_add(i64::try_from(resting.len()).unwrap_or(i64::MAX));
        let due = self.read_models.due_holds(self.clock.now(), limit).await?;
        let mut round = Round::default();
        let mut sent = 0;
        for hold in due
            .iter()
            .filter(|hold| !resting.contains(&(hold.account_id, hold.hold_id)))
            .take(usize::try_from(ROUND).unwrap_or(usize::MAX))
        {
            sent += 1;
            match self.expire(hold).await {
                Ok(Expiry::Recorded) => round.expired += 1,
                Ok(Expiry::AlreadyOver) => {}
                // This process's clock is behind the one that read the deadline: next round.
                Ok(Expiry::NotDue) => continue,
                Err(error) => {
                    round.failed += 1;
                    tracing::warn!(
                        scheduler = NAME,
                        account_id = %hold.account_id,
                        hold_id = %hold.hold_id,
                        error = %crate::telemetry::error_chain(&error),
                        "cannot expire a hold; trying it again later"
                    );
                }
            }
            self.rest(hold);
        }
        round.full = sent == usize::try_from(ROUND).unwrap_or(usize::MAX);
        Ok(round)
    }

    /// The holds left alone now (and forgets those whose rest is over).
    fn resting_now(&self) -> std::collections::HashSet<(Uuid, Uuid)> {
        let now = Instant::now();
        let mut resting = self
            .resting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        resting.retain(|_, until| *until > now);
        resting.keys().copied().collect()
    }

    fn rest(&self, hold: &DueHold) {
        let mut resting = self
            .resting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        resting.insert((hold.account_id, hold.hold_id), Instant::now() + REST);
    }

    /// Sends the expiry of one hold.
    async fn expire(&self, hold: &DueHold) -> Result<Expiry, CommandError> {
        let hold_id = HoldId(hold.hold_id);
        let expired = self
            .commands
            .handle(AccountId(hold.account_id), Precondition::None, None, |stamp| {
                AccountCommand::ExpireHold(ExpireHold {
                    hold_id,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await;
        match expired {
            Ok(outcome) if outcome.events.is_empty() => Ok(Expiry::AlreadyOver),
            Ok(_) => Ok(Expiry::Recorded),
            Err(CommandError::Rejected(AccountError::HoldNotDue { .. })) => Ok(Expiry::NotDue),
            Err(error) => Err(error),
        }
    }
}

/// What sending one expiry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Recorded,
    /// Captured, voided or expired before: the decider recorded nothing.
    AlreadyOver,
    /// Not yet, by this process's clock.
    NotDue,
}
