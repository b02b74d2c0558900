//! What every handler may use: the command and query sides, never the store or the database.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::KeyStore;
use crate::clock::{Clock, IdGenerator};
use crate::command::AccountCommandHandler;
use crate::db::Backend;
use crate::follow::Followers;
use crate::http::auth::Access;
use crate::http::feed_stream::EventStreams;
use crate::http::rate_limit::RateLimits;
use crate::integration::subscriptions::Subscriptions;
use crate::metrics::Metrics;
use crate::projection::{ReadModels, Replicas};
use crate::query::{AccountHistory, EventLog};
use crate::readiness::Readiness;
use crate::store::chain::checkpoint::PublicKey;

/// Shared by the handlers. Cheap to clone: all fields are handles.
#[derive(Debug, Clone)]
pub struct AppState {
    pub commands: AccountCommandHandler,
    pub read_models: ReadModels,
    pub history: AccountHistory,
    pub log: EventLog,
    /// What each follower has reached, for `min_position` waits and `GET /projections`.
    pub followers: Followers,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdGenerator>,
    /// How long a query with `min_position` waits for the read model to catch up.
    pub read_wait: Duration,
    /// The hot standbys queries are read from (`--replica-url`); none by default.
    pub replicas: Replicas,
    /// How much of the read wait a query with `min_position` spends waiting for a replica
    /// before it asks the primary.
    pub replica_wait: Duration,
    pub backend: Backend,
    /// Whether requests need an API key, and the keys to check them against.
    pub access: Access,
    pub keys: KeyStore,
    /// The owners' data keys: personal text is sealed with them as commands come in and opened
    /// as answers go out (see `crate::http::personal`).
    pub keyring: crate::privacy::Keyring,
    /// The request rates per caller and per address (see [`crate::http::rate_limit`]).
    pub(crate) limits: RateLimits,
    /// The open `GET /events/stream` responses: their bound, and the signal that ends them.
    pub event_streams: EventStreams,
    /// What `GET /metrics` renders, and where the HTTP layer counts requests.
    pub metrics: Metrics,
    /// What `GET /health/ready` checks.
    pub readiness: Readiness,
    /// The public key of the chain's signing key, for `GET /chain` (`None`: nothing signed).
    pub chain_key: Option<PublicKey>,
    /// The webhook subscriptions (`/webhooks`).
    pub subscriptions: Subscriptions,
    /// Whether a subscription may point at a private, loopback or link-local address
    /// (`--webhook-allow-private`; see [`crate::integration::destination`]).
    pub webhook_allow_private: bool,
}
