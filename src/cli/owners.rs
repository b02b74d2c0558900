//! `foldbank owners erase OWNER_ID`: what `POST /owners/{owner_id}/erasure` does, from the
//! operator's shell.

use std::process::ExitCode;

use clap::Subcommand;

use super::Outcome;
use crate::config::Config;
use crate::db::Database;
use crate::privacy::keyring;

#[derive(Debug, Subcommand)]
pub enum OwnersAction {
    /// Erase an owner's personal data: delete their data key, so that every personal field of
    /// theirs reads `null` from now on, in running servers too. Needs no master key.
    Erase { owner_id: uuid::Uuid },
}

/// Erases an owner's personal data; prints when it was erased.
pub(super) async fn run(config: &Config, action: OwnersAction) -> Outcome {
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    let OwnersAction::Erase { owner_id } = action;
    let erasure = keyring::erase(&database, owner_id, chrono::Utc::now()).await?;
    database.close().await;
    if erasure.already {
        tracing::info!(%owner_id, erased_at = %erasure.erased_at, "the owner's personal data was erased before");
    } else {
        tracing::info!(%owner_id, "the owner's personal data is erased");
    }
    println!("{}", erasure.erased_at.to_rfc3339());
    Ok(ExitCode::SUCCESS)
}
