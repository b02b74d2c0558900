//! Prometheus metrics: every metric's name and meaning, the recorder, and the exposition text.
//!
//! The code that measures calls the methods of [`Metrics`] (`command`, `append_batch`,
//! `applied`, ...); they record through the `metrics` facade's macros into a
//! `metrics-exporter-prometheus` recorder, and `GET /metrics` renders that recorder in the
//! Prometheus text format (`http::metrics`). This module knows nothing of HTTP, commands or
//! followers beyond the label values they hand it.
//!
//! # One recorder per [`App`](crate::app::App), not a global one
//! The `metrics` macros normally write to a global recorder, installed once per process. The
//! integration tests run many apps in one process, each on its own database, and a global
//! recorder would mix their counts (and could be installed only once). So each app owns its
//! recorder, and every measurement runs the macros inside [`metrics::with_local_recorder`],
//! which points them at that recorder for the length of a synchronous closure: no await
//! happens inside, so the thread-local scope cannot leak to another task. The binary has one
//! app, hence one recorder, exactly as if it were global. Nothing else in the process
//! (dependencies included) reports metrics, so nothing is lost by not installing one.
//!
//! Histograms are given buckets, so they render as Prometheus histograms (which aggregate
//! across instances and answer `histogram_quantile`) rather than summaries.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use metrics_util::MetricKindMask;

use crate::db::{Databases, PoolStats};

/// HTTP requests answered, by `method`, `route` (the route template, such as
/// `/accounts/{id}/deposits`, so that ids do not explode the series) and `status`.
pub const HTTP_REQUESTS: &str = "foldbank_http_requests_total";
/// How long HTTP requests took to answer, by `method`, `route` and `status`.
pub const HTTP_REQUEST_DURATION: &str = "foldbank_http_request_duration_seconds";
/// Account commands handled, by `command` (`Deposit`, `Withdraw`, ...) and `outcome`
/// (`ok`, `replayed`, `rejected`, `conflict`, `error`).
pub const COMMANDS: &str = "foldbank_commands_total";
/// How long account commands took (lock, load, decide, append), by `command` and `outcome`.
pub const COMMAND_DURATION: &str = "foldbank_command_duration_seconds";
/// Where the command side found an account's state: `cache` (in memory), `snapshot` (a
/// stored snapshot plus the events after it) or `log` (every event of the stream).
pub const ACCOUNT_LOADS: &str = "foldbank_account_loads_total";
/// Appends that found their stream moved on by another writer (optimistic concurrency): the
/// command was decided again on fresh state.
pub const APPEND_CONFLICTS: &str = "foldbank_append_conflicts_total";
/// Appends written per group-commit transaction.
pub const APPEND_BATCH_SIZE: &str = "foldbank_append_batch_size";
/// How long a group-commit transaction took, from `BEGIN` to the end of `COMMIT`.
pub const APPEND_COMMIT_DURATION: &str = "foldbank_append_commit_duration_seconds";
/// Events behind the head of the log, per `follower`, sampled when scraped.
pub const FOLLOWER_LAG_EVENTS: &str = "foldbank_follower_lag_events";
/// From an event's append (`recorded_at`) to its follower having handled it, per `follower`.
pub const FOLLOWER_LAG_SECONDS: &str = "foldbank_follower_lag_seconds";
/// 1 while an operator has paused a follower, else 0, per `follower`, sampled when scraped.
pub const FOLLOWER_PAUSED: &str = "foldbank_follower_paused";
/// Events parked by this process, per `follower`.
pub const PARKED_EVENTS_TOTAL: &str = "foldbank_parked_events_total";
/// Events parked now (rows of `parked_events`, whichever process parked them), per
/// `follower`, sampled when scraped.
pub const PARKED_EVENTS: &str = "foldbank_parked_events";
/// Attempts to deliver webhook messages by this process, by `outcome` (`delivered`, `failed`:
/// to be tried again, `parked`: the attempts ran out).
pub const WEBHOOK_ATTEMPTS: &str = "foldbank_webhook_attempts_total";
/// Messages a webhook subscription has still to receive (parked ones included), per
/// `webhook_id`, sampled when scraped.
pub const WEBHOOK_WAITING: &str = "foldbank_webhook_waiting_messages";
/// Parked messages of a webhook subscription, per `webhook_id`, sampled when scraped.
pub const WEBHOOK_PARKED: &str = "foldbank_webhook_parked_messages";
/// How far a webhook subscription is behind the head of the log, in events (after the last
/// position up to which it has received everything; 0 when it has everything), per
/// `webhook_id`, sampled when scraped.
pub const WEBHOOK_LAG_EVENTS: &str = "foldbank_webhook_lag_events";
/// Queries sent to a hot standby (`--replica-url`), by `replica` (`host:port/database`) and
/// `outcome`: `served` by it, `behind` (it had not reached the query's `min_position` within the
/// replica wait: the primary answered) or `failed` (the primary answered, and it rests).
pub const REPLICA_READS: &str = "foldbank_replica_reads_total";
/// Events a replica's read models are behind the primary's (as this process's projections have
/// them), per `replica`, sampled when scraped; NaN while it does not answer.
pub const REPLICA_LAG_EVENTS: &str = "foldbank_replica_lag_events";
/// A replica's replay lag (the age of the last transaction it replayed while more waits; 0 when
/// it has replayed all it received), per `replica`, sampled when scraped.
pub const REPLICA_LAG_SECONDS: &str = "foldbank_replica_lag_seconds";
/// 1 when a replica answered the scrape's sample, 0 when it did not, per `replica`.
pub const REPLICA_UP: &str = "foldbank_replica_up";
/// Open connections of a database pool (`database`: `write`, or `read` when the read models
/// live apart; `pool`: `main`, or SQLite's `derived` for read-model writes), sampled when
/// scraped.
pub const DB_POOL_SIZE: &str = "foldbank_db_pool_connections";
/// Idle connections of a database pool, sampled when scraped.
pub const DB_POOL_IDLE: &str = "foldbank_db_pool_idle_connections";

/// Buckets of the latency histograms, in seconds: 1 ms to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of the follower lag, in seconds: 1 ms to 10 minutes (a rebuild or an outage).
const LAG_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0,
];

/// Buckets of the append batch size, in appends (the committer takes up to 1,000 events).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];

/// What the command side reports of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::Display)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Its events were appended (or it had nothing left to do).
    Ok,
    /// Its `Idempotency-Key` was answered before: the same answer again.
    Replayed,
    /// Refused: the account's rules (422), a missing account (404) or a reused key.
    Rejected,
    /// Lost to another writer: `If-Match` failed (412), or retries ran out (409).
    Conflict,
    /// The store failed, or the outcome is unknown.
    Error,
}

/// Where a command found the account's state (see [`ACCOUNT_LOADS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum LoadSource {
    Cache,
    Snapshot,
    Log,
}

/// How a query sent to a replica ended (see [`REPLICA_READS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ReplicaRead {
    Served,
    Behind,
    Failed,
}

/// A replica's figures sampled at scrape time; `None` when it did not answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSample {
    pub replica: String,
    pub lag: Option<(i64, Duration)>,
}

/// Follower figures sampled at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerSample {
    pub follower: &'static str,
    pub lag_events: i64,
    pub parked: usize,
    /// An operator paused it (`POST /projections/{name}/pause`).
    pub paused: bool,
}

/// How long a gauge outlives the scrape that set it last: every gauge is set anew by each
/// scrape, just before it renders, so this only has to outlast one rendering.
const SAMPLED_GAUGES_KEPT: std::time::Duration = std::time::Duration::from_secs(1);

/// A webhook subscription's figures sampled at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSample {
    pub webhook_id: String,
    pub waiting: i64,
    pub parked: i64,
    pub lag_events: i64,
}

/// The metrics of one app. Cheap to clone: a handle. [`Metrics::disabled`] records nothing
/// (for CLI commands and benchmarks).
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// Sampled at scrape time for the pool gauges: the write database, and the read one
    /// when the read models live apart.
    databases: Databases,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

impl Metrics {
    /// A fresh recorder, with every metric described, whose pool gauges sample `databases`.
    pub fn new(databases: &Databases) -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Full(FOLLOWER_LAG_SECONDS.to_owned()), LAG_BUCKETS)
            })
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Full(APPEND_BATCH_SIZE.to_owned()), BATCH_BUCKETS)
            })
            // Only an empty bucket list fails, and none is.
            .unwrap_or_default()
            // Every gauge is set by the scrape that renders it (`render`): one that the last
            // scrape did not set names something gone (a deleted webhook, a replica no longer
            // configured) and is dropped rather than shown with its last figures for ever.
            .idle_timeout(MetricKindMask::GAUGE, Some(SAMPLED_GAUGES_KEPT))
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics {
            inner: Some(Arc::new(Inner {
                recorder,
                handle,
                databases: databases.clone(),
            })),
        };
        metrics.describe();
        metrics
    }

    /// Records nothing.
    pub fn disabled() -> Metrics {
        Metrics::default()
    }

    /// Runs `record` with this app's recorder behind the `metrics` macros.
    fn record(&self, record: impl FnOnce()) {
        if let Some(inner) = &self.inner {
            metrics::with_local_recorder(&inner.recorder, record);
        }
    }

    fn describe(&self) {
        self.record(|| {
            describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route template and status.");
            describe_histogram!(
                HTTP_REQUEST_DURATION,
                Unit::Seconds,
                "How long HTTP requests took to answer, by method, route template and status."
            );
            describe_counter!(COMMANDS, "Account commands handled, by command and outcome.");
            describe_histogram!(
                COMMAND_DURATION,
                Unit::Seconds,
                "How long account commands took (lock, load, decide, append), by command and outcome."
            );
            describe_counter!(
                ACCOUNT_LOADS,
                "Where commands found the account's state: cache, snapshot (plus later events) or log (every event)."
            );
            describe_counter!(
                APPEND_CONFLICTS,
                "Appends that found their stream moved on by another writer; decided again on fresh state."
            );
            describe_histogram!(APPEND_BATCH_SIZE, Unit::Count, "Appends written per group-commit transaction.");
            describe_histogram!(
                APPEND_COMMIT_DURATION,
                Unit::Seconds,
                "How long a group-commit transaction took, BEGIN to COMMIT."
            );
            describe_gauge!(FOLLOWER_LAG_EVENTS, Unit::Count, "Events behind the head of the log, per follower.");
            describe_histogram!(
                FOLLOWER_LAG_SECONDS,
                Unit::Seconds,
                "From an event's append to its follower having handled it, per follower."
            );
            describe_gauge!(FOLLOWER_PAUSED, "1 while an operator has paused the follower, else 0.");
            describe_counter!(PARKED_EVENTS_TOTAL, "Events this process parked, per follower.");
            describe_gauge!(PARKED_EVENTS, Unit::Count, "Events parked now, per follower.");
            describe_counter!(
                WEBHOOK_ATTEMPTS,
                "Attempts to deliver webhook messages, by outcome: delivered, failed (tried again later), parked."
            );
            describe_gauge!(
                WEBHOOK_WAITING,
                Unit::Count,
                "Messages a webhook subscription has still to receive, parked ones included."
            );
            describe_gauge!(WEBHOOK_PARKED, Unit::Count, "Parked messages of a webhook subscription.");
            describe_gauge!(
                WEBHOOK_LAG_EVENTS,
                Unit::Count,
                "Events of the log a webhook subscription is behind: after the last position up to which it has received everything."
            );
            describe_counter!(
                REPLICA_READS,
                "Queries sent to a replica, by outcome: served, behind (the primary answered), failed (the primary answered)."
            );
            describe_gauge!(
                REPLICA_LAG_EVENTS,
                Unit::Count,
                "Events a replica's read models are behind the primary's."
            );
            describe_gauge!(
                REPLICA_LAG_SECONDS,
                Unit::Seconds,
                "A replica's replay lag: the age of the last transaction it replayed while more waits."
            );
            describe_gauge!(REPLICA_UP, "1 when a replica answered the scrape's sample, else 0.");
            describe_gauge!(DB_POOL_SIZE, Unit::Count, "Open connections of a database pool.");
            describe_gauge!(DB_POOL_IDLE, Unit::Count, "Idle connections of a database pool.");
        });
    }

    /// One HTTP request answered; `route` is the matched route template.
    pub fn http_request(&self, method: &str, route: &str, status: u16, latency: Duration) {
        self.record(|| {
            let labels = [
                ("method", method.to_owned()),
                ("route", route.to_owned()),
                ("status", status.to_string()),
            ];
            counter!(HTTP_REQUESTS, &labels).increment(1);
            histogram!(HTTP_REQUEST_DURATION, &labels).record(latency.as_secs_f64());
        });
    }

    /// One account command handled.
    pub fn command(&self, command: &'static str, outcome: Outcome, latency: Duration) {
        self.record(|| {
            let outcome: &'static str = outcome.into();
            counter!(COMMANDS, "command" => command, "outcome" => outcome).increment(1);
            histogram!(COMMAND_DURATION, "command" => command, "outcome" => outcome)
                .record(latency.as_secs_f64());
        });
    }

    /// A command found an account's state in `source`.
    pub fn account_loaded(&self, source: LoadSource) {
        self.record(|| {
            let source: &'static str = source.into();
            counter!(ACCOUNT_LOADS, "source" => source).increment(1);
        });
    }

    /// An append found its stream moved on by another writer.
    pub fn append_conflicted(&self) {
        self.record(|| counter!(APPEND_CONFLICTS).increment(1));
    }

    /// One group-commit transaction of `appends` appends, which took `latency`.
    pub fn append_batch(&self, appends: usize, latency: Duration) {
        self.record(|| {
            histogram!(APPEND_BATCH_SIZE).record(appends as f64);
            histogram!(APPEND_COMMIT_DURATION).record(latency.as_secs_f64());
        });
    }

    /// `follower` has handled events recorded at `recorded_at`, as of `now`.
    pub fn applied(
        &self,
        follower: &'static str,
        recorded_at: impl IntoIterator<Item = DateTime<Utc>>,
        now: DateTime<Utc>,
    ) {
        self.record(|| {
            let lag = histogram!(FOLLOWER_LAG_SECONDS, "follower" => follower);
            for recorded_at in recorded_at {
                // Clocks of two machines may disagree by a little: a negative lag is none.
                let seconds = (now - recorded_at).to_std().unwrap_or_default().as_secs_f64();
                lag.record(seconds);
            }
        });
    }

    /// `follower` parked an event.
    pub fn parked(&self, follower: &'static str) {
        self.record(|| counter!(PARKED_EVENTS_TOTAL, "follower" => follower).increment(1));
    }

    /// What one batch of webhook attempts came to.
    pub fn webhook_attempts(&self, delivered: usize, failed: usize, parked: usize) {
        self.record(|| {
            for (outcome, count) in [("delivered", delivered), ("failed", failed), ("parked", parked)] {
                if count > 0 {
                    counter!(WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(count as u64);
                }
            }
        });
    }

    /// A query sent to `replica` ended as `outcome`.
    pub fn replica_read(&self, replica: &str, outcome: ReplicaRead) {
        self.record(|| {
            let outcome: &'static str = outcome.into();
            counter!(REPLICA_READS, "replica" => replica.to_owned(), "outcome" => outcome).increment(1);
        });
    }

    /// The Prometheus text exposition of every metric, after setting the gauges that are
    /// sampled now: `followers`, `webhooks` and `replicas` (from the caller, who reads the
    /// databases) and the database pools.
    pub fn render(
        &self,
        followers: &[FollowerSample],
        webhooks: &[WebhookSample],
        replicas: &[ReplicaSample],
    ) -> String {
        let Some(inner) = &self.inner else {
            return String::new();
        };
        let write = inner
            .databases
            .write
            .pool_stats()
            .into_iter()
            .map(|pool| ("write", pool));
        let read = inner
            .databases
            .is_split()
            .then(|| inner.databases.read.pool_stats());
        let pools: Vec<(&'static str, PoolStats)> = write
            .chain(read.into_iter().flatten().map(|pool| ("read", pool)))
            .collect();
        self.record(|| {
            for sample in followers {
                gauge!(FOLLOWER_LAG_EVENTS, "follower" => sample.follower).set(sample.lag_events as f64);
                gauge!(PARKED_EVENTS, "follower" => sample.follower).set(sample.parked as f64);
                gauge!(FOLLOWER_PAUSED, "follower" => sample.follower).set(if sample.paused {
                    1.0
                } else {
                    0.0
                });
            }
            for sample in webhooks {
                let id = sample.webhook_id.clone();
                gauge!(WEBHOOK_WAITING, "webhook_id" => id.clone()).set(sample.waiting as f64);
                gauge!(WEBHOOK_PARKED, "webhook_id" => id.clone()).set(sample.parked as f64);
                gauge!(WEBHOOK_LAG_EVENTS, "webhook_id" => id).set(sample.lag_events as f64);
            }
            for sample in replicas {
                let replica = sample.replica.clone();
                // A replica that did not answer has no lag to show: NaN, not its last figures,
                // which could read "caught up".
                let (up, events, seconds) = match sample.lag {
                    Some((events, seconds)) => (1.0, events as f64, seconds.as_secs_f64()),
                    None => (0.0, f64::NAN, f64::NAN),
                };
                gauge!(REPLICA_UP, "replica" => replica.clone()).set(up);
                gauge!(REPLICA_LAG_EVENTS, "replica" => replica.clone()).set(events);
                gauge!(REPLICA_LAG_SECONDS, "replica" => replica).set(seconds);
            }
            for (database, pool) in &pools {
                gauge!(DB_POOL_SIZE, "database" => *database, "pool" => pool.pool).set(f64::from(pool.size));
                gauge!(DB_POOL_IDLE, "database" => *database, "pool" => pool.pool).set(pool.idle as f64);
            }
        });
        inner.handle.render()
    }

    /// Folds recorded histogram samples into their buckets, so that memory stays bounded
    /// between scrapes (or without any). The server runs it every few seconds.
    pub fn run_upkeep(&self) {
        if let Some(inner) = &self.inner {
            inner.handle.run_upkeep();
        }
    }
}
