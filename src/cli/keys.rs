//! `foldbank keys create|list|revoke`: who may call the service.

use std::process::ExitCode;

use clap::Subcommand;

use super::Outcome;
use crate::auth::{KeyStore, Role};
use crate::config::Config;
use crate::db::Database;
use crate::domain::ids::OwnerId;

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print it: it is shown this once, and only its digest is kept.
    Create {
        /// A customer key for this owner: it sees and acts on the owner's accounts only.
        #[arg(long, conflicts_with = "operator", required_unless_present = "operator")]
        owner: Option<uuid::Uuid>,
        /// An operator key: every account, and the operations endpoints.
        #[arg(long)]
        operator: bool,
        /// A note for `keys list` (who holds it, what for).
        #[arg(long)]
        label: Option<String>,
    },
    /// List every key (never the keys themselves).
    List,
    /// Revoke a key: it stops working at once, in running servers too.
    Revoke {
        /// The key's id (`keys list`).
        key_id: uuid::Uuid,
    },
}

/// Creates, lists or revokes API keys.
pub(super) async fn run(config: &Config, action: KeysAction) -> Outcome {
    let database = Database::connect(&config.database_url, config.database_max_connections).await?;
    let keys = KeyStore::new(database.clone());
    match action {
        KeysAction::Create {
            owner,
            operator: _,
            label,
        } => {
            let role = match owner {
                Some(owner) => Role::Customer(OwnerId(owner)),
                None => Role::Operator,
            };
            let created = keys.create(role, label.as_deref(), chrono::Utc::now()).await?;
            eprintln!(
                "key {} created; it is shown this once, keep it secret:",
                created.key_id
            );
            println!("{}", created.key);
        }
        KeysAction::List => {
            for key in keys.list().await? {
                println!(
                    "{} {} {} {} created={}{}",
                    key.key_id,
                    key.kind,
                    key.owner_id
                        .map_or_else(|| "-".to_owned(), |owner| owner.to_string()),
                    key.label.as_deref().unwrap_or("-"),
                    key.created_at.to_rfc3339(),
                    key.revoked_at
                        .map_or_else(String::new, |at| format!(" revoked={}", at.to_rfc3339())),
                );
            }
        }
        KeysAction::Revoke { key_id } => {
            if !keys.revoke(key_id, chrono::Utc::now()).await? {
                return Err(format!("no active key {key_id}").into());
            }
            println!("key {key_id} revoked");
        }
    }
    database.close().await;
    Ok(ExitCode::SUCCESS)
}
