//! The `foldbank` command line: one module per command, each a function from the
//! configuration to an exit code.
//!
//! `main.rs` parses the arguments and calls [`run`]; nothing else happens there.

mod keys;
mod master_key;
mod owners;
mod parked;
mod rebuild;
mod serve;
mod signing_key;
mod snapshots;
mod verify;

use std::error::Error;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use keys::KeysAction;
pub use parked::ParkedAction;
pub use rebuild::RebuildTarget;
pub use snapshots::SnapshotsCommand;

use crate::config::Config;
use crate::db::{DatabaseError, Databases};
use crate::http;
use crate::telemetry::{self, LogOutput, error_chain};

/// What every command but `openapi` answers: success, or an error that ends it.
type Outcome = Result<ExitCode, Box<dyn Error>>;

#[derive(Debug, Parser)]
#[command(
    name = "foldbank",
    version,
    about = "A banking service built with CQRS and Event Sourcing"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Print the OpenAPI document to stdout.
    Openapi,
    /// Replay the whole event log into a fresh copy of a read model, then swap it in for the
    /// live one (after fixing a projection bug); `all` also deletes the snapshots. Works while
    /// the service runs: queries keep reading the old rows until the swap.
    Rebuild {
        /// A read model, or `all`.
        projection: rebuild::RebuildTarget,
    },
    /// Replay the whole event log in memory and compare every read model with it, row by row.
    /// Exits 0 when they are equal, 1 when some row differs (the report names it), 2 when it
    /// could not check. With `--chain`, recompute the log's hash chain instead.
    Verify {
        /// Recompute every link of the hash chain from position 1 and name the first event that
        /// was changed, deleted, moved or inserted around the service, and every signed
        /// checkpoint that does not hold (exit 1), or none (0).
        #[arg(long)]
        chain: bool,
        /// With `--chain`: the public key that signed the checkpoints, as the base64 of its raw
        /// 32 bytes (`public_key` of `GET /chain`); without it, that of `--signing-key-file`.
        #[arg(long, requires = "chain")]
        public_key: Option<String>,
        /// With `--chain`: checkpoints kept outside the database, a `GET /chain` response saved
        /// to a file, checked as the stored ones are (a forger who deleted those cannot delete
        /// these).
        #[arg(long, requires = "chain")]
        checkpoints: Option<std::path::PathBuf>,
    },
    /// Manage the key that signs the hash chain's checkpoints.
    SigningKey {
        #[command(subcommand)]
        action: signing_key::SigningKeyAction,
    },
    /// Manage the master key that wraps the owners' data keys (see "Personal data" in docs/operating.md).
    MasterKey {
        #[command(subcommand)]
        action: master_key::MasterKeyAction,
    },
    /// Erase an owner's personal data.
    Owners {
        #[command(subcommand)]
        action: owners::OwnersAction,
    },
    /// Events a follower could not handle and set aside (also in `GET /projections`).
    Parked {
        #[command(subcommand)]
        action: parked::ParkedAction,
    },
    /// Manage the snapshots of the command side.
    Snapshots {
        #[command(subcommand)]
        action: snapshots::SnapshotsCommand,
    },
    /// Manage API keys: who may call the service (see "Security" in docs/operating.md).
    Keys {
        #[command(subcommand)]
        action: keys::KeysAction,
    },
}

/// Runs the command `cli` names (the server when it names none) and answers its exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let config = cli.config;
    let command = cli.command.unwrap_or(Command::Serve);
    // A command whose answer is its standard output logs to standard error.
    let output = match command {
        Command::Verify { .. }
        | Command::Keys { .. }
        | Command::SigningKey { .. }
        | Command::MasterKey { .. }
        | Command::Owners { .. } => LogOutput::Stderr,
        _ => LogOutput::Stdout,
    };
    if !matches!(command, Command::Openapi) {
        telemetry::init_to(&config.log_filter, config.log_format, output);
    }
    match command {
        Command::Openapi => {
            print!("{}", http::openapi::openapi_json());
            ExitCode::SUCCESS
        }
        Command::Serve => exit_code("foldbank stopped", serve::run(config).await, ExitCode::FAILURE),
        Command::Rebuild { projection } => exit_code(
            "rebuild failed",
            rebuild::run(&config, projection).await,
            ExitCode::FAILURE,
        ),
        // 0: the read models equal the log (or the chain is intact); 1: some differ (or it is
        // broken); 2: it could not check.
        Command::Verify { chain: false, .. } => {
            exit_code("verify failed", verify::run(&config).await, ExitCode::from(2))
        }
        Command::Verify {
            chain: true,
            public_key,
            checkpoints,
        } => exit_code(
            "verify --chain failed",
            verify::chain(&config, public_key.as_deref(), checkpoints.as_deref()).await,
            ExitCode::from(2),
        ),
        Command::SigningKey { action } => {
            exit_code("signing-key failed", signing_key::run(action), ExitCode::FAILURE)
        }
        Command::MasterKey { action } => exit_code(
            "master-key failed",
            master_key::run(&config, action).await,
            ExitCode::FAILURE,
        ),
        Command::Owners { action } => exit_code(
            "owners failed",
            owners::run(&config, action).await,
            ExitCode::FAILURE,
        ),
        Command::Parked { action } => exit_code(
            "parked failed",
            parked::run(&config, action).await,
            ExitCode::FAILURE,
        ),
        Command::Snapshots { action } => exit_code(
            "clearing the snapshots failed",
            snapshots::run(&config, action).await,
            ExitCode::FAILURE,
        ),
        Command::Keys { action } => {
            exit_code("keys failed", keys::run(&config, action).await, ExitCode::FAILURE)
        }
    }
}

/// A command's exit code: its own when it ran, else `failure`, with the error's whole chain
/// logged under `what`.
fn exit_code(what: &str, outcome: Outcome, failure: ExitCode) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = %error_chain(&*error), "{what}");
            failure
        }
    }
}

/// The write database and, when `READ_DATABASE_URL` is set, the read database; both migrated.
async fn connect(config: &Config) -> Result<Databases, DatabaseError> {
    Databases::connect(
        &config.database_url,
        config.read_database_url.as_deref(),
        config.database_max_connections,
    )
    .await
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use strum::VariantArray;

    use super::*;
    use crate::projection::ProjectionName;

    #[test]
    fn rebuild_takes_a_projection_name_or_all() {
        let target = |arg: &str| match Cli::try_parse_from(["foldbank", "rebuild", arg]) {
            Ok(Cli {
                command: Some(Command::Rebuild { projection }),
                ..
            }) => Some(projection.projections()),
            _ => None,
        };
        assert_eq!(target("transfers"), Some(vec![ProjectionName::Transfers]));
        assert_eq!(target("ledger_totals"), Some(vec![ProjectionName::LedgerTotals]));
        assert_eq!(
            target("all").map(|all| all.len()),
            Some(ProjectionName::VARIANTS.len())
        );
        assert_eq!(target("balances"), None);
    }

    #[test]
    fn verify_is_a_subcommand() {
        assert!(matches!(
            Cli::try_parse_from(["foldbank", "verify", "--database-url", "sqlite://x.db"]),
            Ok(Cli {
                command: Some(Command::Verify { chain: false, .. }),
                ..
            })
        ));
        assert!(matches!(
            Cli::try_parse_from(["foldbank", "verify", "--chain"]),
            Ok(Cli {
                command: Some(Command::Verify { chain: true, .. }),
                ..
            })
        ));
    }

    #[test]
    fn snapshots_clear_is_a_subcommand_and_rebuild_all_clears_them_too() {
        assert!(matches!(
            Cli::try_parse_from(["foldbank", "snapshots", "clear"]),
            Ok(Cli {
                command: Some(Command::Snapshots {
                    action: SnapshotsCommand::Clear
                }),
                ..
            })
        ));
        assert!(RebuildTarget(None).clears_snapshots());
        assert!(!RebuildTarget(Some(ProjectionName::Transfers)).clears_snapshots());
    }
}
