//! `foldbank rebuild <read model>|all`: replay the log into fresh read models, then swap them in.

use std::process::ExitCode;
use std::sync::LazyLock;

use clap::ValueEnum;
use strum::VariantArray;

use super::{Outcome, connect};
use crate::config::Config;
use crate::projection::{self, Progress, ProjectionName};
use crate::store;

/// What `foldbank rebuild` rebuilds: one projection (`None` meaning all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildTarget(pub Option<ProjectionName>);

impl RebuildTarget {
    pub fn projections(self) -> Vec<ProjectionName> {
        match self.0 {
            Some(name) => vec![name],
            None => ProjectionName::VARIANTS.to_vec(),
        }
    }

    /// `all` also deletes the snapshots: everything derived from the log starts again from it.
    pub fn clears_snapshots(self) -> bool {
        self.0.is_none()
    }
}

/// `all`, then every read model's name: a new read model is a target without a line here.
static TARGETS: LazyLock<Vec<RebuildTarget>> = LazyLock::new(|| {
    std::iter::once(None)
        .chain(ProjectionName::VARIANTS.iter().copied().map(Some))
        .map(RebuildTarget)
        .collect()
});

/// The projection names, plus `all`.
impl ValueEnum for RebuildTarget {
    fn value_variants<'a>() -> &'a [Self] {
        &TARGETS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self.0 {
            None => Some(clap::builder::PossibleValue::new("all").help("every read model")),
            Some(name) => name.to_possible_value(),
        }
    }
}

/// Rebuilds one read model (or all) from the log, beside the live one, then swaps it in.
pub(super) async fn run(config: &Config, target: RebuildTarget) -> Outcome {
    let databases = connect(config).await?;
    let store = store::event_store(&databases.write);
    let names = target.projections();
    let rebuilt =
        projection::rebuild(&databases.read, &store, &names, Progress::on_stderr("rebuild")).await?;
    for swapped in &rebuilt.swapped {
        tracing::info!(
            projection = %swapped.projection,
            events = rebuilt.events,
            position = rebuilt.position,
            rows_removed = swapped.removed,
            rows_added = swapped.added,
            "rebuilt from the log and swapped in"
        );
    }
    if target.clears_snapshots() {
        let cleared = store::clear_snapshots(&databases.write).await?;
        tracing::info!(
            cleared,
            "snapshots deleted; restart the service to empty its state cache"
        );
    }
    databases.close().await;
    Ok(ExitCode::SUCCESS)
}
