//! `foldbank snapshots clear`: drop the command side's snapshots; loads replay the events.

use std::process::ExitCode;

use clap::Subcommand;

use super::Outcome;
use crate::config::Config;
use crate::db::Database;
use crate::store;

#[derive(Debug, Subcommand)]
pub enum SnapshotsCommand {
    /// Delete every snapshot (after fixing a bug in `evolve` without bumping
    /// `STATE_SCHEMA_VERSION`), then restart the service. Always safe: loads replay the events.
    Clear,
}

/// Deletes every snapshot, so that loads replay the events (with the `evolve` of this build).
pub(super) async fn run(config: &Config, action: SnapshotsCommand) -> Outcome {
    let SnapshotsCommand::Clear = action;
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    let cleared = store::clear_snapshots(&database).await?;
    tracing::info!(
        cleared,
        "snapshots deleted; restart the service to empty its state cache"
    );
    database.close().await;
    Ok(ExitCode::SUCCESS)
}
