//! The pure core: value types and deciders.
//!
//! Nothing in here performs IO, reads a clock or generates random ids. Time and new ids arrive
//! inside commands, so the same state and the same command always yield the same events. This
//! module must not import `sqlx`, `axum`, `tokio` or any other module of this crate.

pub mod account;
pub mod decider;
pub mod ids;
pub mod money;
pub mod personal;
pub mod text;
pub mod transfer;

pub use decider::Decider;
