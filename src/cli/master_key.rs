//! `foldbank master-key create|id|rotate`: the key that wraps every owner's data key.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::Outcome;
use crate::config::Config;
use crate::db::Database;
use crate::integration::secrets;
use crate::privacy::{MasterKey, keyring};

#[derive(Debug, Subcommand)]
pub enum MasterKeyAction {
    /// Make a new master key and write it to PATH, readable by its owner only (never over an
    /// existing file); print its id. Keep it apart from the database and its backups: a copy
    /// of both opens every personal field.
    Create { path: PathBuf },
    /// Print the id of the master key at PATH (what `owner_keys.master_key_id` stores).
    Id { path: PathBuf },
    /// Re-wrap every data key (and every webhook's signing secret) that
    /// `--previous-master-key-file` wrapped under `--master-key-file`; print how many data keys.
    /// Events are not touched. Run it once every process
    /// was restarted with both files; then restart them with the new one alone and destroy the
    /// old one.
    Rotate,
}

/// Makes a master key, prints a key's id, or rotates the keys of the database.
pub(super) async fn run(config: &Config, action: MasterKeyAction) -> Outcome {
    let id = match action {
        MasterKeyAction::Create { path } => {
            let key = MasterKey::generate()?;
            key.write_new(&path)?;
            tracing::info!(path = %path.display(), "master key written; start the service with --master-key-file");
            key.id().to_owned()
        }
        MasterKeyAction::Id { path } => MasterKey::read(&path)?.id().to_owned(),
        MasterKeyAction::Rotate => return rotate(config).await,
    };
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

/// Re-wraps the data keys and the webhook secrets of the previous master key under the current
/// one. (It prints the count of data keys, as before.)
async fn rotate(config: &Config) -> Outcome {
    let (Some(to), Some(from)) = (&config.master_key_file, &config.previous_master_key_file) else {
        return Err(
            "rotate needs --master-key-file (the new key) and --previous-master-key-file (the old one)"
                .into(),
        );
    };
    let (to, from) = (MasterKey::read(to)?, MasterKey::read(from)?);
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    let rewrapped = keyring::rewrap(&database, &from, &to).await?;
    let secrets = secrets::rewrap(&database, &from, &to).await?;
    database.close().await;
    tracing::info!(
        rewrapped,
        webhook_secrets = secrets,
        from = from.id(),
        to = to.id(),
        "every data key and webhook secret is wrapped by the new master key"
    );
    println!("{rewrapped}");
    Ok(ExitCode::SUCCESS)
}
