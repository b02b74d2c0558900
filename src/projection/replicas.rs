//! Hot standbys that serve the read side: [`Replicas`] (`--replica-url`, PostgreSQL only).
//!
//! PostgreSQL's streaming replication copies every committed transaction of the primary to its
//! standbys, the read models and their projections' checkpoints with them. A hot standby can
//! therefore answer the same queries as the primary, only later: by its replication lag. The
//! query side sends each read to the next replica in turn ([`Replicas::pick`]); commands,
//! followers and everything else stay on the primary.
//!
//! # Read-your-writes on a replica
//! A projection moves its checkpoint in the transaction that writes its rows, and a standby
//! replays transactions whole and in commit order: once a standby's checkpoint of a read model
//! shows position `p`, its rows show every event up to `p`. A query with `min_position`
//! therefore waits until the replica's checkpoints reach it ([`Replica::wait_for`], polling:
//! `LISTEN` does not work on a standby), for `--replica-wait-ms` at most, then asks the primary
//! for the rest of its read wait. The wait is a hint, the answer's own snapshot the proof: a
//! replica's answer counts only if the position it read with its rows has reached
//! `min_position` (a URL that reaches several servers, through DNS or a pooler, could otherwise
//! answer from another than the one polled). A replica that did not reach a position in time is
//! waited for no more for a second ([`BEHIND`]): it is asked once, and the primary answers when
//! it is still behind. A replica that is down rests ([`REST`]): queries skip it, and any
//! query it fails is asked of the primary at once, so a replica's trouble costs latency, never an
//! error.
//!
//! At start-up, [`Replicas::check`] makes sure each replica that answers is a copy of the read
//! database (the same cluster, by PostgreSQL's system identifier, and the same database): a URL
//! naming another database would serve its data as this one's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::db::{Database, DatabaseError, Databases};
use crate::projection::{ProjectionName, ReadModels, Reads};

/// How long a replica that is down is left out of the turn.
pub const REST: Duration = Duration::from_secs(5);

/// How long, after a replica did not reach a query's `min_position` in time, queries with one
/// look at its checkpoints once instead of waiting for them.
pub const BEHIND: Duration = Duration::from_secs(1);

/// How long the start-up check and the closing may wait for one replica.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The first pause between two looks at a replica's checkpoints; it doubles up to
/// [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(2);
const MAX_POLL: Duration = Duration::from_millis(50);

/// The hot standbys queries are read from, in turn. Cheap to clone; empty unless configured.
#[derive(Debug, Clone, Default)]
pub struct Replicas {
    members: Arc<[Replica]>,
    next: Arc<AtomicUsize>,
}

/// One hot standby: its read models, and whether it is resting or known to be behind.
#[derive(Debug)]
pub struct Replica {
    label: String,
    read_models: ReadModels,
    resting: Until,
    behind: Until,
}

/// A state that lasts until an instant: set for a while, then over by itself.
#[derive(Debug, Default)]
struct Until(Mutex<Option<Instant>>);

impl Until {
    fn set_for(&self, duration: Duration) {
        *self.0.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(Instant::now() + duration);
    }

    fn holds(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .is_some_and(|until| Instant::now() < until)
    }
}

/// A replica that is not a copy of the read database.
#[derive(Debug, thiserror::Error)]
#[error(
    "--replica-url {replica} is not a standby of the read database: {why}; name a hot standby \
     streaming from the database the read models live in"
)]
pub struct ReplicaMismatch {
    replica: String,
    why: String,
}

/// What a replica showed when sampled for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaStatus {
    /// The lowest checkpoint of its read models.
    pub reached: i64,
    /// How long ago the last transaction it replayed committed on the primary; 0 when it has
    /// replayed everything it received.
    pub replay_lag: Duration,
}

impl Replicas {
    /// Pools on the standbys at `urls`, each serving the read models of `databases`' read
    /// database (see [`Database::connect_replica`]: nothing is connected before the first query).
    pub fn connect(
        urls: &[String],
        databases: &Databases,
        max_connections: u32,
    ) -> Result<Self, DatabaseError> {
        let primary = ReadModels::new(databases.clone());
        let members = urls
            .iter()
            .map(|url| {
                let database = Database::connect_replica(url, max_connections)?;
                Ok(Replica {
                    label: database.address().unwrap_or_default(),
                    read_models: primary.on(database),
                    resting: Until::default(),
                    behind: Until::default(),
                })
            })
            .collect::<Result<Vec<_>, DatabaseError>>()?;
        Ok(Replicas {
            members: members.into(),
            next: Arc::default(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn members(&self) -> &[Replica] {
        &self.members
    }

    /// The next replica in turn that is not resting; `None` when every one is (or there are
    /// none): then the primary answers.
    pub fn pick(&self) -> Option<&Replica> {
        let count = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| &self.members[(start + offset) % count])
            .find(|replica| !replica.is_resting())
    }

    /// Checks that every replica that answers is a copy of `read` (the read database): the
    /// same cluster and the same database. One that does not answer now is only reported: its
    /// answers are checked one by one anyway, and it is skipped while it is down.
    pub async fn check(&self, read: &Database) -> Result<(), ReplicaMismatch> {
        let Ok(primary) = identity(read).await else {
            return Ok(());
        };
        for replica in self.members.iter() {
            let mismatch = |why: String| ReplicaMismatch {
                replica: replica.label.clone(),
                why,
            };
            match tokio::time::timeout(CHECK_TIMEOUT, identity(&replica.read_models.database)).await {
                Ok(Ok(found)) if found.database != primary.database => {
                    return Err(mismatch(format!(
                        "it is database {:?}, the read models live in {:?}",
                        found.database, primary.database
                    )));
                }
                Ok(Ok(found)) if found.system != primary.system => {
                    return Err(mismatch(format!(
                        "its cluster's system identifier is {}, the read database's {}",
                        found.system.as_deref().unwrap_or("unknown"),
                        primary.system.as_deref().unwrap_or("unknown")
                    )));
                }
                Ok(Ok(found)) => tracing::info!(
                    replica = replica.label(),
                    standby = found.in_recovery,
                    "queries are read from this replica in turn"
                ),
                Ok(Err(error)) => tracing::warn!(
                    replica = replica.label(),
                    error = %crate::telemetry::error_chain(&error),
                    "the replica does not answer yet: the primary serves its share until it does"
                ),
                Err(_) => tracing::warn!(
                    replica = replica.label(),
                    "the replica does not answer yet: the primary serves its share until it does"
                ),
            }
        }
        Ok(())
    }

    /// Closes every replica's pool; one that does not close in time (a connection to a server
    /// that went silent) is left to the process's end.
    pub async fn close(&self) {
        for replica in self.members.iter() {
            let _ = tokio::time::timeout(CHECK_TIMEOUT, replica.read_models.database.close()).await;
        }
    }
}

/// What makes a server a copy of another: its cluster (physical replication copies the system
/// identifier, which a promotion keeps) and the database. `system` is `None` where the role may
/// not read it (`pg_control_system()` is for superusers and `pg_monitor` by default): then only
/// the database is compared.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    system: Option<String>,
    database: String,
    in_recovery: bool,
}

async fn identity(database: &Database) -> Result<Identity, sqlx::Error> {
    let (name, in_recovery): (String, bool) =
        crate::db::query("SELECT current_database(), pg_is_in_recovery()")
            .fetch_one(database)
            .await?;
    let system: Option<String> = crate::db::query("SELECT system_identifier::text FROM pg_control_system()")
        .fetch_optional_scalar(database)
        .await
        .ok()
        .flatten();
    Ok(Identity {
        system,
        database: name,
        in_recovery,
    })
}

/// Whether `error`, from `replica`, means the replica is down (rest it) rather than that one
/// query failed: its connection broke or could not be made, the server is shutting down or
/// starting, or its schema is not foldbank's. A query cancelled by a replay conflict, or this
/// process's own pool being busy, is no reason to leave a replica out.
pub fn is_down(error: &sqlx::Error, replica: &Replica) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::PoolClosed => true,
        // The pool stops trying to connect to a server that refuses connections only when its
        // acquire timeout runs out: with no connection open, that is the server's doing; with
        // some, every one was busy here.
        sqlx::Error::PoolTimedOut => replica
            .read_models
            .database
            .pool_stats()
            .iter()
            .all(|pool| pool.size == 0),
        // Connection exceptions, shutdowns and start-ups; an unknown database or table.
        sqlx::Error::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || code.starts_with("57P") || code == "3D000" || code == "42P01"
        }),
        _ => false,
    }
}

impl Replica {
    /// `host:port/database`, for metrics and logs.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The read models as this replica has them.
    pub fn read_models(&self) -> &ReadModels {
        &self.read_models
    }

    /// Leaves this replica out of the turn for [`REST`].
    pub fn rest(&self) {
        self.resting.set_for(REST);
    }

    fn is_resting(&self) -> bool {
        self.resting.holds()
    }

    /// Notes that this replica did not reach a query's position in time: for [`BEHIND`], the
    /// queries that need a position look at its checkpoints once and do not wait.
    pub fn fell_behind(&self) {
        self.behind.set_for(BEHIND);
    }

    /// The position every read model `reads` names has reached on this replica.
    pub async fn reached(&self, reads: Reads) -> Result<i64, sqlx::Error> {
        let checkpoints = self.checkpoints().await?;
        Ok(reads
            .read_models()
            .iter()
            .map(|name| position_of(&checkpoints, name.as_str()))
            .min()
            .unwrap_or(0))
    }

    /// Waits until the read models `reads` names reach `position` on this replica: `true` if
    /// they did by `deadline`, `false` if not. Shortly after it [fell behind](Self::fell_behind),
    /// it looks once and does not wait.
    pub async fn wait_for(
        &self,
        reads: Reads,
        position: i64,
        deadline: Instant,
    ) -> Result<bool, sqlx::Error> {
        let mut pause = FIRST_POLL;
        loop {
            if self.reached(reads).await? >= position {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline || self.behind.holds() {
                return Ok(false);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }

    /// How far this replica is: its read models' lowest checkpoint and its replay lag.
    pub async fn status(&self) -> Result<ReplicaStatus, sqlx::Error> {
        let checkpoints = self.checkpoints().await?;
        let reached = <ProjectionName as strum::VariantArray>::VARIANTS
            .iter()
            .map(|name| position_of(&checkpoints, name.as_str()))
            .min()
            .unwrap_or(0);
        // Standard replay lag: nothing when all that arrived is replayed (an idle primary sends
        // nothing, and the last replayed commit's age would only grow), otherwise the age of
        // the last commit replayed. On a server that is no standby, none.
        let lag_ms: i64 = crate::db::query(
            "SELECT COALESCE(CASE \
                 WHEN NOT pg_is_in_recovery() THEN 0 \
                 WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
                 ELSE (EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint \
             END, 0)",
        )
        .fetch_scalar(&self.read_models.database)
        .await?;
        Ok(ReplicaStatus {
            reached,
            replay_lag: Duration::from_millis(u64::try_from(lag_ms).unwrap_or(0)),
        })
    }

    /// Every stored checkpoint of the replica, in one round trip.
    async fn checkpoints(&self) -> Result<Vec<(String, i64)>, sqlx::Error> {
        crate::db::query("SELECT name, position FROM projection_checkpoints")
            .fetch_all(&self.read_models.database)
            .await
    }
}

/// The stored position of `name` (0 when it has none yet).
fn position_of(checkpoints: &[(String, i64)], name: &str) -> i64 {
    checkpoints
        .iter()
        .find(|(stored, _)| stored == name)
        .map_or(0, |(_, position)| *position)
}
