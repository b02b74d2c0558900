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
use crate::store::{self, EventStore};

/// Everything a handler may use. Cheap to clone: all fields are handles.
#[derive(Debug, Clone)]
pub struct AppState {
    pub database: Database,
    pub store: Arc<dyn EventStore>,
    pub commands: AccountCommandHandler,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
}

impl AppState {
    pub fn new(database: Database, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        let store = store::event_store(&database);
        let commands = AccountCommandHandler::new(store.clone(), clock.clone(), ids.clone());
        AppState {
            database,
            store,
            commands,
            clock,
            ids,
        }
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
