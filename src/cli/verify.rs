//! `foldbank verify`: every read model against the fold of the log, row by row; with
//! `--chain`, the log against its hash chain, link by link.

use std::path::Path;
use std::process::ExitCode;

use super::{Outcome, connect};
use crate::config::Config;
use crate::projection::{self, Progress};
use crate::store::chain::checkpoint::{Checkpoint, PublicKey};
use crate::store::{self, chain};

/// Compares every read model with the fold of the log; prints the report on stdout and
/// answers whether they are all equal.
pub(super) async fn run(config: &Config) -> Outcome {
    let databases = connect(config).await?;
    let store = store::event_store(&databases.write);
    let verification = projection::verify(&databases.read, &store, Progress::on_stderr("verify")).await?;
    println!("{verification}");
    databases.close().await;
    Ok(if verification.is_consistent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Recomputes the hash chain from position 1 and checks the signed checkpoints (with
/// `public_key`, else the configured signing key's); prints the report on stdout and answers
/// whether the chain and its checkpoints hold.
pub(super) async fn chain(config: &Config, public_key: Option<&str>, published: Option<&Path>) -> Outcome {
    let key = match public_key {
        Some(text) => Some(PublicKey::from_base64(text)?),
        None => config.chain_signer()?.map(|signer| signer.public_key()),
    };
    let published = match published {
        Some(path) => published_checkpoints(path)?,
        None => Vec::new(),
    };
    let databases = connect(config).await?;
    let mut progress = Progress::on_stderr("verify --chain");
    let head = store::event_store(&databases.write).head_position().await?;
    progress.aim_at(head);
    let report = chain::verify(&databases.write, key.as_ref(), published, |position| {
        progress.reached(position)
    })
    .await?;
    progress.finish();
    println!("{report}");
    databases.close().await;
    Ok(if report.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A `GET /chain` response saved to a file (or only its `checkpoints` array).
fn published_checkpoints(path: &Path) -> Result<Vec<Checkpoint>, Box<dyn std::error::Error>> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Saved {
        Page { checkpoints: Vec<Checkpoint> },
        List(Vec<Checkpoint>),
    }
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let saved: Saved = serde_json::from_str(&text)
        .map_err(|error| format!("{} is not a saved GET /chain response: {error}", path.display()))?;
    let (Saved::Page { checkpoints } | Saved::List(checkpoints)) = saved;
    Ok(checkpoints)
}
