//! `foldbank parked list|retry|skip`: the events a follower set aside.

use std::process::ExitCode;

use clap::Subcommand;

use super::{Outcome, connect};
use crate::app;
use crate::config::Config;
use crate::follow::parking;
use crate::projection::ReadModels;
use crate::projection::{self, Progress, ProjectionName, RebuildOptions, SetAsideEvents};
use crate::store;

#[derive(Debug, Subcommand)]
pub enum ParkedAction {
    /// Print every parked event.
    List,
    /// Handle a parked event again. The transfer process manager retries it (a running server
    /// picks the request up within a second); a read model cannot apply one event out of order,
    /// so it is rebuilt from the log instead.
    Retry {
        /// The follower that parked it: a read model, `transfer_process` or `overdraft_fee_policy`.
        follower: String,
        /// The event's global position.
        position: i64,
    },
    /// Leave a parked event unhandled by its follower, and forget it.
    Skip {
        /// The follower that parked it: a read model, `transfer_process` or `overdraft_fee_policy`.
        follower: String,
        /// The event's global position.
        position: i64,
    },
}

/// Lists, retries or skips parked events, each in the database of its follower's checkpoint.
pub(super) async fn run(config: &Config, action: ParkedAction) -> Outcome {
    let databases = connect(config).await?;
    let known = |follower: &str| {
        if app::follower_names().contains(&follower) {
            Ok(())
        } else {
            Err(format!(
                "no follower named {follower:?}; followers: {}",
                app::follower_names().join(", ")
            ))
        }
    };
    match action {
        ParkedAction::List => {
            let parked = ReadModels::new(databases.clone()).parked_events().await?;
            if parked.is_empty() {
                println!("no parked events");
            }
            for event in parked {
                println!(
                    "{} {} {} {} attempts={}{} parked_at={}\n    {}",
                    event.follower,
                    event.position,
                    event.event_type,
                    event.event_id,
                    event.attempts,
                    if event.retry_requested {
                        " retry-requested"
                    } else {
                        ""
                    },
                    event.parked_at.to_rfc3339(),
                    event.error,
                );
            }
        }
        ParkedAction::Retry { follower, position } => {
            known(&follower)?;
            let database = projection::checkpoint_database(&databases, &follower);
            if let Ok(projection) = follower.parse::<ProjectionName>() {
                let parked = parking::parked_events(database).await?;
                if !parked
                    .iter()
                    .any(|event| event.follower == follower && event.position == position)
                {
                    return Err(format!("{follower} parked nothing at position {position}").into());
                }
                // A rebuild that folds its parked events, and forgets them in its swap: one that
                // cannot run (another holds it, or one still cannot be folded) forgets nothing.
                let store = store::event_store(&databases.write);
                projection::rebuild_with(
                    database,
                    &store,
                    &[projection],
                    RebuildOptions {
                        set_aside: SetAsideEvents::RetryParked,
                        ..RebuildOptions::default()
                    },
                    Progress::on_stderr("rebuild"),
                )
                .await?;
                println!("{follower}: rebuilt from the log, its parked events with it");
            } else if parking::request_retry(database, &follower, position).await? {
                println!("{follower} {position}: retry requested; a running server handles it");
            } else {
                return Err(format!("{follower} parked nothing at position {position}").into());
            }
        }
        ParkedAction::Skip { follower, position } => {
            known(&follower)?;
            let database = projection::checkpoint_database(&databases, &follower);
            if !parking::skip(database, &follower, position).await? {
                return Err(format!("{follower} parked nothing at position {position}").into());
            }
            println!("{follower} {position}: skipped");
        }
    }
    databases.close().await;
    Ok(ExitCode::SUCCESS)
}
