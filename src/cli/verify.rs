//! `foldbank verify`: every read model against the fold of the log, row by row.

use std::process::ExitCode;

use super::{Outcome, connect};
use crate::config::Config;
use crate::projection::{self, Progress};
use crate::store;

/// Compares every read model with the fold of the log; prints the report on stdout and
/// answers whether they are all equal.
pub(super) async fn run(config: &Config) -> Outcome {
    let databases = connect(config).await?;
    let store = store::event_store(&databases.write);
    let verification = projection::verify(&databases.read, &*store, Progress::on_stderr("verify")).await?;
    println!("{verification}");
    databases.close().await;
    Ok(if verification.is_consistent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
