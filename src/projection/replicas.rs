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
//! for the rest of its read wait. A replica that fails a query (down, cancelled by a recovery
//! conflict, not a standby of this database) rests for a while ([`REST`]); the query is asked
//! of the primary at once, so a replica's trouble costs latency, never an error.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::db::{Database, DatabaseError, Databases};
use crate::projection::{ProjectionName, ReadModels, Reads};

/// How long a replica that failed a query is left out of the turn.
pub const REST: Duration = Duration::from_secs(5);

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

/// One hot standby: its read models, and whether it is resting after a failure.
#[derive(Debug)]
pub struct Replica {
    label: String,
    read_models: ReadModels,
    resting_until: Mutex<Option<Instant>>,
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
                    resting_until: Mutex::new(None),
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

    /// Closes every replica's pool.
    pub async fn close(&self) {
        for replica in self.members.iter() {
            replica.read_models.database.close().await;
        }
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
        *self
            .resting_until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(Instant::now() + REST);
    }

    fn is_resting(&self) -> bool {
        self.resting_until
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .is_some_and(|until| Instant::now() < until)
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
    /// they did by `deadline`, `false` if not.
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
            if now >= deadline {
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
