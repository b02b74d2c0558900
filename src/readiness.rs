//! Whether this process is fit to take traffic, for `GET /health/ready` and orchestrators.
//!
//! Ready means: the database answers (both, when the read models live apart), each one's
//! schema holds every migration of this build (applied successfully), and every follower of the log is within `max_lag` events of its
//! head in this process. A process that is not ready says why, naming what is missing or which
//! follower is how far behind, so that whoever reads a failed probe knows where to look. It
//! reads only: the database's migration table and the head of the log, and the followers'
//! positions as this process knows them.

use std::sync::Arc;

use crate::db::Databases;
use crate::follow::{Followers, stored_checkpoints};
use crate::store::{EventStore, StoreError};

/// The default of `--ready-max-lag`: a follower this many events behind is not ready.
pub const DEFAULT_MAX_LAG: i64 = 1_000;

/// Checks readiness. Cheap to clone: all fields are handles.
#[derive(Debug, Clone)]
pub struct Readiness {
    databases: Databases,
    store: Arc<dyn EventStore>,
    followers: Followers,
    max_lag: i64,
}

/// What a ready process reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// The position of the last event in the log.
    pub head: i64,
}

/// A follower further behind the log than allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lagging {
    pub follower: &'static str,
    pub checkpoint: i64,
    pub head: i64,
}

impl Lagging {
    pub fn lag(&self) -> i64 {
        self.head - self.checkpoint
    }
}

/// Why this process is not ready.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the database does not answer")]
    DatabaseUnreachable(#[source] StoreError),
    #[error("the database lacks migrations {missing:?} of this build (not applied, or failed)")]
    MigrationsMissing { missing: Vec<i64> },
    #[error("{}", describe_lagging(.lagging, *.max_lag))]
    FollowersBehind { lagging: Vec<Lagging>, max_lag: i64 },
}

fn describe_lagging(lagging: &[Lagging], max_lag: i64) -> String {
    let each: Vec<String> = lagging
        .iter()
        .map(|behind| {
            format!(
                "{} is {} events behind the log (at position {} of {})",
                behind.follower,
                behind.lag(),
                behind.checkpoint,
                behind.head
            )
        })
        .collect();
    format!("{}; at most {max_lag} are allowed", each.join(", "))
}

impl NotReady {
    /// A short, stable name of the reason, for machines.
    pub fn reason(&self) -> &'static str {
        match self {
            NotReady::DatabaseUnreachable(_) => "database-unreachable",
            NotReady::MigrationsMissing { .. } => "migrations-missing",
            NotReady::FollowersBehind { .. } => "followers-behind",
        }
    }
}

impl Readiness {
    pub fn new(databases: Databases, store: Arc<dyn EventStore>, followers: Followers, max_lag: i64) -> Self {
        Readiness {
            databases,
            store,
            followers,
            max_lag,
        }
    }

    /// A follower more than `max_lag` events behind makes the process not ready.
    pub fn with_max_lag(mut self, max_lag: i64) -> Self {
        self.max_lag = max_lag;
        self
    }

    pub async fn check(&self) -> Result<Ready, NotReady> {
        let head = self
            .store
            .head_position()
            .await
            .map_err(NotReady::DatabaseUnreachable)?;
        let mut missing = Vec::new();
        for database in self.databases.each() {
            let absent = database
                .missing_migrations()
                .await
                .map_err(|error| NotReady::DatabaseUnreachable(StoreError::Database(error)))?;
            missing.extend(absent);
        }
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            return Err(NotReady::MigrationsMissing { missing });
        }
        // A read model an operator paused is behind on purpose: it keeps no process from
        // serving (else a pause for maintenance would take every instance out of the balancer).
        let mut paused = Vec::new();
        for database in self.databases.each() {
            let stored = stored_checkpoints(database)
                .await
                .map_err(|error| NotReady::DatabaseUnreachable(StoreError::Database(error)))?;
            paused.extend(
                stored
                    .into_iter()
                    .filter(|checkpoint| checkpoint.paused_at.is_some())
                    .map(|checkpoint| checkpoint.name),
            );
        }
        let lagging: Vec<Lagging> = self
            .followers
            .states()
            .into_iter()
            .filter(|state| !paused.iter().any(|name| name == state.name))
            .map(|state| Lagging {
                follower: state.name,
                checkpoint: state.checkpoint,
                head,
            })
            .filter(|behind| behind.lag() > self.max_lag)
            .collect();
        if lagging.is_empty() {
            Ok(Ready { head })
        } else {
            Err(NotReady::FollowersBehind {
                lagging,
                max_lag: self.max_lag,
            })
        }
    }
}
