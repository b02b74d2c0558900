//! What the command side tells operators about each command: one log event with its fields
//! (stream, command, outcome, latency; at WARN when slower than the threshold) and the
//! command metrics. Nothing here changes what a command does.

use std::time::Duration;

use uuid::Uuid;

use crate::command::CommandError;
use crate::metrics::{Metrics, Outcome};

/// The default of `--slow-command-ms`.
pub const DEFAULT_SLOW_THRESHOLD: Duration = Duration::from_millis(500);

/// Where commands are reported, and when one counts as slow.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    pub(crate) metrics: Metrics,
    pub(crate) slow_threshold: Duration,
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter {
            metrics: Metrics::disabled(),
            slow_threshold: DEFAULT_SLOW_THRESHOLD,
        }
    }
}

/// The outcome of a command, as metrics and logs name it.
pub(crate) fn outcome_of<T>(result: &Result<T, CommandError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(CommandError::Replayed(_)) => Outcome::Replayed,
        Err(
            CommandError::Rejected(_)
            | CommandError::AccountNotFound(_)
            | CommandError::IdInUse(_)
            | CommandError::IdempotencyKeyReused { .. },
        ) => Outcome::Rejected,
        Err(
            CommandError::Conflict { .. }
            | CommandError::PreconditionFailed { .. }
            | CommandError::TransferSettledOtherwise(_),
        ) => Outcome::Conflict,
        Err(CommandError::OutcomeUnknown(_) | CommandError::Store(_) | CommandError::Encoding(_)) => {
            Outcome::Error
        }
    }
}

impl Reporter {
    /// Reports one command: counted, timed and logged (at WARN when it took at least the slow
    /// threshold, so a threshold of zero logs every command at WARN).
    ///
    /// The stream's id is logged as `account_id`: every command the API takes is addressed to
    /// an account, and log queries select on that field.
    pub(crate) fn report(
        &self,
        account_id: Uuid,
        command: &'static str,
        outcome: Outcome,
        latency: Duration,
    ) {
        self.metrics.command(command, outcome, latency);
        let latency_ms = latency.as_secs_f64() * 1_000.0;
        let outcome: &'static str = outcome.into();
        if latency >= self.slow_threshold {
            tracing::warn!(
                account_id = %account_id,
                command,
                outcome,
                latency_ms,
                slow_threshold_ms = u64::try_from(self.slow_threshold.as_millis()).unwrap_or(u64::MAX),
                "slow command"
            );
        } else {
            tracing::info!(account_id = %account_id, command, outcome, latency_ms, "command handled");
        }
    }
}
