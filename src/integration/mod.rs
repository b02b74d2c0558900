//! Integration events: the facts this service publishes for others, apart from the domain
//! events it keeps for itself.
//!
//! - [`contract`]: the published types (`money.deposited.v1`, ...) and the one mapping from
//!   domain events to them; no personal data crosses.
//! - [`signing`]: Standard Webhooks secrets and signatures.
//! - [`secrets`]: the secrets at rest, sealed under the master key.
//! - [`subscriptions`]: who wants which events where (`/webhooks`, operators only).
//! - [`outbox`]: the follower of the log that enqueues each subscription's messages.
//! - [`delivery`]: the sender of the outbox's messages (back-off, parking, order per account).
//! - [`replay`]: a stretch of the log sent to a subscription again.
//! - [`destination`]: the URLs messages may be sent to (no server-side request forgery).

pub mod contract;
pub mod delivery;
pub mod destination;
pub mod outbox;
pub mod replay;
pub mod secrets;
pub mod signing;
pub mod subscriptions;

pub use contract::{IntegrationEvent, IntegrationEventType};
pub use signing::WebhookSecret;
