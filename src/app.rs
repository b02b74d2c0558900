//! Wires the parts together: state shared by the handlers, and the server loop.
//!
//! [`serve`] takes an already-bound listener, so tests can bind port 0 and the binary can bind
//! the configured address with the same code.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::clock::{Clock, IdGenerator};
use crate::command::AccountCommandHandler;
use crate::db::Database;
use crate::process::{self, TransferProcess, TransferProcessSettings};
use crate::projection::{self, Projections, WakingStore};
use crate::query::{AccountHistory, ReadModels};
use crate::store::{self, EventStore};

/// How many 5-second rounds start-up waits for the projections to catch up.
const STARTUP_CATCH_UP_ROUNDS: u32 = 12;

/// Everything a handler may use. Cheap to clone: all fields are handles.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    /// The event log; appends through it wake the projectors.
    pub store: Arc<dyn EventStore>,
    pub commands: AccountCommandHandler,
    pub projections: Projections,
    pub read_models: ReadModels,
    pub history: AccountHistory,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    /// How long a query with `min_position` waits for the read model to catch up.
    pub read_wait: Duration,
}

impl AppState {
    pub fn new(database: Database, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        let mut followers = projection::names();
        followers.push(process::transfers::NAME);
        let projections = Projections::new(&followers);
        let store: Arc<dyn EventStore> = Arc::new(WakingStore::new(
            store::event_store(&database),
            projections.clone(),
        ));
        let commands = AccountCommandHandler::new(store.clone(), clock.clone(), ids.clone());
        AppState {
            read_models: ReadModels::new(database.clone()),
            history: AccountHistory::new(commands.clone()),
            database,
            store,
            commands,
            projections,
            clock,
            ids,
            read_wait: Duration::from_secs(2),
        }
    }

    /// Starts the transfer process manager (it needs no catch-up wait: settling transfers is
    /// not on the path of any query).
    pub fn start_transfer_process(&self, settings: TransferProcessSettings) -> TransferProcess {
        TransferProcess::start(
            self.database.clone(),
            self.store.clone(),
            self.commands.clone(),
            self.projections.clone(),
            settings,
        )
    }

    pub fn with_read_wait(mut self, read_wait: Duration) -> Self {
        self.read_wait = read_wait;
        self
    }

    /// Starts the projector and waits until every projection has caught up with the log as it
    /// is now, so the first queries already see every event written before start-up.
    ///
    /// The wait is bounded: a projection that keeps failing (its error is in
    /// `GET /projections`) must not keep the service from serving commands.
    pub async fn start_projector(
        &self,
        settings: projection::ProjectorSettings,
    ) -> Result<projection::Projector, store::StoreError> {
        let projector = projection::Projector::start(
            self.database.clone(),
            self.store.clone(),
            self.projections.clone(),
            settings,
        );
        let head = self.store.head_position().await?;
        self.projections.announce_head(head);
        let names = projection::names();
        for _ in 0..STARTUP_CATCH_UP_ROUNDS {
            match self
                .projections
                .wait_for(&names, head, Duration::from_secs(5))
                .await
            {
                Ok(()) => return Ok(projector),
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
        Ok(projector)
    }
}

/// The HTTP settings of the server.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// The router for `state`: what the server serves and what tests call directly.
pub fn router(state: AppState, settings: HttpSettings) -> Router {
    crate::http::router(state, settings.request_timeout)
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
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
