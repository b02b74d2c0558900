//! Wires the parts together: the only module that knows them all.
//!
//! [`App`] builds the write side, the read side and the followers on the write database and
//! the read database ([`Databases`]: one and the same unless the read models live apart);
//! [`App::router`] hands the HTTP layer what its handlers need; [`serve`] takes an
//! already-bound listener, so tests can bind port 0 and the binary can bind the configured
//! address with the same code.

use crate::integration::delivery::{Deliverer, DeliverySettings};
use crate::integration::outbox::WebhookOutbox;
use crate::integration::subscriptions::Subscriptions;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::KeyStore;
use crate::clock::{Clock, IdGenerator};
use crate::command::AccountCommandHandler;
use crate::db::{Database, Databases};
use crate::follow::{FollowContext, FollowSettings, Follower, Followers, Following, WakingStore};
use crate::http::AppState;
pub use crate::http::HttpSettings;
use crate::http::auth::{Access, AuthMode};
pub use crate::http::feed_stream::{EventStreamSettings, EventStreams};
use crate::http::idempotency::KEY_RETENTION;
use crate::http::rate_limit::RateLimits;
use crate::metrics::Metrics;
use crate::policy::{self, OverdraftFeePolicy};
use crate::privacy::{Keyring, MasterKey};
use crate::process::checkpoints::Cadence;
use crate::process::{self, CheckpointSigner, HoldExpiry, TransferProcess};
use crate::projection::{FaultInjector, ProjectionName, Projector};
use crate::projection::{ReadModels, Replicas};
use crate::query::{AccountHistory, EventLog};
use crate::readiness::{self, Readiness};
use crate::store::chain::checkpoint::ChainSigner;
use crate::store::{self, EventStore, StoreError, StoreFaults};

/// How many 5-second rounds start-up waits for the projections to catch up.
const STARTUP_CATCH_UP_ROUNDS: u32 = 12;

/// How much of the read wait a query spends waiting for a replica, unless configured.
pub const DEFAULT_REPLICA_WAIT: Duration = Duration::from_millis(500);

/// How often histogram samples are folded into buckets when nobody scrapes `/metrics`.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// The parts of a running foldbank. Cheap to clone: all fields are handles.
#[derive(Debug, Clone)]
pub struct App {
    /// The write database: the log, snapshots, idempotency records, API keys, and the transfer
    /// process manager's checkpoint.
    pub database: Database,
    /// The read database: the read models and their projections' checkpoints and parked
    /// events. The same handle as [`database`](App::database) unless split.
    pub read_database: Database,
    /// The event log; appends through it wake this process's followers.
    pub store: Arc<dyn EventStore>,
    pub follow: FollowSettings,
    /// Test hook: makes projection batches fail on purpose.
    pub faults: Arc<FaultInjector>,
    /// Test hook: slows the event store's commits.
    pub store_faults: Arc<StoreFaults>,
    /// Cancelled when the process shuts down; every follower stops with it.
    pub shutdown: CancellationToken,
    /// What the HTTP handlers use, held here rather than copied: the command handler, the
    /// queries, the followers' progress, the clock, the keys, the event streams (which end with
    /// [`App::shutdown`], or earlier with [`EventStreams::close`]: a server must close them
    /// when its shutdown begins, since a graceful shutdown waits for every response to end),
    /// the metrics and what `GET /health/ready` checks.
    pub http: AppState,
    /// The key that signs the hash chain's checkpoints, if any.
    pub chain_signer: Option<ChainSigner>,
}

/// The names of every follower: the projections, then the process managers and the policies.
pub fn follower_names() -> Vec<&'static str> {
    let mut names = projection_names();
    names.push(process::transfers::NAME);
    names.push(policy::overdraft_fees::NAME);
    names
}

/// The checkpoint names of the projections.
pub fn projection_names() -> Vec<&'static str> {
    use strum::VariantArray;
    ProjectionName::VARIANTS
        .iter()
        .map(|name| name.as_str())
        .collect()
}

impl App {
    /// The service on `databases`: one [`Database`], or a [`Databases`] pair whose read
    /// database holds the read models.
    pub fn new(databases: impl Into<Databases>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        let databases = databases.into();
        let database = databases.write.clone();
        let followers = Followers::new(&follower_names());
        let metrics = Metrics::new(&databases);
        let store_faults = Arc::new(StoreFaults::default());
        let store: Arc<dyn EventStore> = Arc::new(WakingStore::new(
            store::observed_event_store(&database, store_faults.clone(), metrics.clone()),
            followers.clone(),
        ));
        let commands = AccountCommandHandler::new(store.clone(), clock.clone(), ids.clone())
            .with_metrics(metrics.clone());
        let keys = KeyStore::new(database.clone());
        let shutdown = CancellationToken::new();
        let event_streams = EventStreams::new(EventStreamSettings::default(), shutdown.child_token());
        let readiness = Readiness::new(
            databases.clone(),
            store.clone(),
            followers.clone(),
            readiness::DEFAULT_MAX_LAG,
        );
        let http = AppState {
            read_models: ReadModels::new(databases.clone()),
            history: AccountHistory::new(store.clone()),
            log: EventLog::new(store.clone(), database.clone()),
            commands,
            followers,
            clock,
            ids,
            read_wait: Duration::from_secs(2),
            replicas: Replicas::default(),
            replica_wait: DEFAULT_REPLICA_WAIT,
            backend: database.backend(),
            // Open unless told otherwise: the binary decides at start-up, tests choose.
            access: Access::new(AuthMode::Open, keys.clone()),
            keys,
            keyring: Keyring::new(
                database.clone(),
                // Until `with_master_key`: a key of this process's own, as good as any for a
                // service alone on its database (the binary always reads one from a file).
                MasterKey::generate().expect("the operating system gives randomness"),
            ),
            // `crate::http::router` puts the limits of its settings in place of these.
            limits: RateLimits::new(
                HttpSettings::default().rate_limit,
                HttpSettings::default().refused_rate_limit,
            ),
            event_streams,
            metrics,
            readiness,
            chain_key: None,
            subscriptions: Subscriptions::new(database.clone()),
            webhook_allow_private: false,
        };
        App {
            read_database: databases.read,
            database,
            store,
            follow: FollowSettings::default(),
            faults: Arc::new(FaultInjector::default()),
            store_faults,
            shutdown,
            http,
            chain_signer: None,
        }
    }

    /// Signs the hash chain's checkpoints with `signer` ([`App::start_checkpoint_signer`]) and
    /// shows its public key in `GET /chain`.
    pub fn with_chain_signer(mut self, signer: Option<ChainSigner>) -> Self {
        self.http.chain_key = signer.as_ref().map(ChainSigner::public_key);
        self.chain_signer = signer;
        self
    }

    /// Seals and opens personal data with the data keys that `master` wraps: every process
    /// on one database must be given the same master key.
    pub fn with_master_key(mut self, master: MasterKey) -> Self {
        self.http.keyring = Keyring::new(self.database.clone(), master);
        self
    }

    /// While the master key is rotated away from `previous`: also opens what it wrapped.
    pub fn with_previous_master_key(mut self, previous: Option<MasterKey>) -> Self {
        self.http.keyring = self.http.keyring.with_previous(previous);
        self
    }

    /// Lets webhook subscriptions point at private, loopback and link-local addresses (a
    /// receiver on this machine or its network); refused by default.
    pub fn with_webhook_allow_private(mut self, allow: bool) -> Self {
        self.http.webhook_allow_private = allow;
        self
    }

    /// A command that takes longer than `threshold` is logged at WARN.
    pub fn with_slow_command_threshold(mut self, threshold: Duration) -> Self {
        self.http.commands = self.http.commands.with_slow_threshold(threshold);
        self
    }

    /// Stores an account's state beside its events every `events` events.
    pub fn with_snapshot_interval(mut self, events: i64) -> Self {
        self.http.commands = self.http.commands.with_snapshot_interval(events);
        self
    }

    /// `GET /health/ready` fails while a follower is more than `max_lag` events behind.
    pub fn with_ready_max_lag(mut self, max_lag: i64) -> Self {
        self.http.readiness = self.http.readiness.with_max_lag(max_lag);
        self
    }

    pub fn with_read_wait(mut self, read_wait: Duration) -> Self {
        self.http.read_wait = read_wait;
        self
    }

    /// Serves queries from `replicas` (hot standbys of the read database), waiting up to
    /// `replica_wait` of the read wait for one to reach a query's `min_position`.
    pub fn with_replicas(mut self, replicas: Replicas, replica_wait: Duration) -> Self {
        self.http.replicas = replicas;
        self.http.replica_wait = replica_wait;
        self
    }

    /// The longest pause between two tries of a failing follower batch.
    pub fn with_max_backoff(mut self, max_backoff: Duration) -> Self {
        self.follow.max_backoff = max_backoff;
        self
    }

    /// How often followers look for new events when nothing woke them.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.follow.poll_interval = poll_interval;
        self
    }

    /// Bounds and pacing of the event streams (`GET /events/stream`).
    pub fn with_event_streams(mut self, settings: EventStreamSettings) -> Self {
        self.http.event_streams = EventStreams::new(settings, self.shutdown.child_token());
        self
    }

    fn follow_context(&self) -> FollowContext {
        FollowContext {
            log_database: self.database.clone(),
            store: self.store.clone(),
            status: self.http.followers.clone(),
            settings: self.follow.clone(),
            metrics: self.http.metrics.clone(),
        }
    }

    fn start(&self, followers: Vec<Arc<dyn Follower>>) -> Following {
        Following::start(followers, &self.follow_context(), &self.shutdown)
    }

    /// Starts one follower per projection (without waiting for them to catch up), writing to
    /// the read database.
    pub fn start_projections(&self) -> Following {
        self.start(Projector::all(&self.read_database, &self.faults))
    }

    /// Starts the transfer process manager (it needs no catch-up wait: settling transfers is
    /// not on the path of any query).
    pub fn start_transfer_process(&self) -> Following {
        self.start(vec![TransferProcess::follower(
            self.database.clone(),
            self.http.commands.clone(),
        )])
    }

    /// Starts the policies ([`crate::policy`]): the overdraft fee policy.
    pub fn start_policies(&self) -> Following {
        self.start(vec![OverdraftFeePolicy::follower(
            self.database.clone(),
            self.http.commands.clone(),
        )])
    }

    /// Starts the webhooks ([`crate::integration`]): the outbox, a follower of the log that
    /// enqueues each subscription's messages, and the sender, which delivers them while this
    /// process leads it. Both stop with [`App::shutdown`] (the follower by its handle).
    pub fn start_webhooks(
        &self,
        settings: DeliverySettings,
    ) -> Result<(Following, tokio::task::JoinHandle<()>), reqwest::Error> {
        let outbox = self.start(vec![Arc::new(WebhookOutbox::new(self.database.clone()))]);
        let sender = Deliverer::new(
            self.database.clone(),
            self.store.clone(),
            self.http.metrics.clone(),
            self.http.keyring.master_keys(),
            settings,
        )?
        .start(self.shutdown.child_token());
        Ok((outbox, sender))
    }

    /// Starts the hold expiry scheduler ([`process::expiry`]): a round every `every`, while this
    /// process leads it. It stops with [`App::shutdown`].
    pub fn start_hold_expiry(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        self.hold_expiry(every).start(self.shutdown.child_token())
    }

    /// The hold expiry scheduler of this process, not started: [`HoldExpiry::expire_due`]
    /// runs one round.
    pub fn hold_expiry(&self, every: Duration) -> HoldExpiry {
        HoldExpiry::new(
            self.database.clone(),
            self.http.read_models.clone(),
            self.http.commands.clone(),
            self.http.clock.clone(),
            every,
        )
    }

    /// Starts the checkpoint signer ([`process::checkpoints`]), if there is a signing key: it
    /// looks every `every` while this process leads it, and stops with [`App::shutdown`].
    pub fn start_checkpoint_signer(
        &self,
        cadence: Cadence,
        every: Duration,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.checkpoint_signer(cadence)
            .map(|signer| signer.start(every, self.shutdown.child_token()))
    }

    /// The checkpoint signer of this process, not started (`None` without a signing key):
    /// [`CheckpointSigner::sign_if_due`] signs once.
    pub fn checkpoint_signer(&self, cadence: Cadence) -> Option<CheckpointSigner> {
        self.chain_signer.clone().map(|signer| {
            CheckpointSigner::new(self.database.clone(), signer, self.http.clock.clone(), cadence)
        })
    }

    /// Starts the housekeeping task: it deletes responses recorded for idempotency keys once
    /// they are older than [`KEY_RETENTION`], hourly (every process may; deletes are
    /// idempotent), and keeps the metrics' memory bounded between scrapes. It stops with
    /// [`App::shutdown`].
    pub fn start_housekeeping(&self) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let clock = self.http.clock.clone();
        let shutdown = self.shutdown.clone();
        let metrics = self.http.metrics.clone();
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(60 * 60));
            let mut metrics_upkeep = tokio::time::interval(METRICS_UPKEEP);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = metrics_upkeep.tick() => {
                        metrics.run_upkeep();
                        continue;
                    }
                    _ = hourly.tick() => {}
                }
                let Ok(retention) = chrono::TimeDelta::from_std(KEY_RETENTION) else {
                    return;
                };
                match store.forget_responses(clock.now() - retention).await {
                    Ok(0) => {}
                    Ok(forgotten) => tracing::info!(forgotten, "forgot expired idempotency keys"),
                    Err(error) => {
                        tracing::warn!(error = %crate::telemetry::error_chain(&error), "cannot forget expired idempotency keys")
                    }
                }
            }
        })
    }

    /// Waits until every projection has caught up with the log as it is now, so the first
    /// queries already see every event written before start-up.
    ///
    /// The wait is bounded: a projection that keeps failing (its error is in
    /// `GET /projections`) must not keep the service from serving commands.
    pub async fn catch_up(&self) -> Result<(), StoreError> {
        let head = self.store.head_position().await?;
        self.http.followers.announce_head(head);
        // A read model an operator paused stays where it is: nothing to wait for.
        let paused: Vec<String> = match self.http.read_models.checkpoints().await {
            Ok(stored) => stored
                .into_iter()
                .filter(|checkpoint| checkpoint.paused_at.is_some())
                .map(|checkpoint| checkpoint.name)
                .collect(),
            Err(error) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&error), "could not read which read models are paused");
                Vec::new()
            }
        };
        let names: Vec<&str> = projection_names()
            .into_iter()
            .filter(|name| !paused.iter().any(|paused| paused == name))
            .collect();
        for _ in 0..STARTUP_CATCH_UP_ROUNDS {
            match self
                .http
                .followers
                .wait_for(&names, head, Duration::from_secs(5))
                .await
            {
                Ok(()) => return Ok(()),
                Err(behind) => tracing::info!(
                    head,
                    reached = behind.reached,
                    "projections catching up with the log"
                ),
            }
        }
        tracing::warn!(
            head,
            "projections are still behind; serving anyway (see GET /projections)"
        );
        Ok(())
    }

    /// Requests need an API key ([`AuthMode::Keys`]) or not ([`AuthMode::Open`]).
    pub fn with_auth(mut self, auth: AuthMode) -> Self {
        self.http.access = Access::new(auth, self.http.keys.clone());
        self
    }

    /// The router: what the server serves and what tests call directly.
    pub fn router(&self, settings: HttpSettings) -> Router {
        crate::http::router(self.http.clone(), settings)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address feeds the rate limit of callers without a key.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (`docker stop`, Kubernetes).
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
