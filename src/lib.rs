//! # foldbank
//!
//! A banking service built with CQRS and Event Sourcing, written to be read.
//!
//! ## How data flows
//!
//! ```text
//!  POST /accounts/{id}/withdrawals
//!        │
//!        ▼
//!  http::accounts ──► command::AccountCommandHandler
//!   (DTO → domain      1. load the stream ──────────────► store::EventStore (events table)
//!    values, 400s)     2. fold: state = fold(evolve, initial, events)          ▲
//!                      3. domain::account::decide(&state, command)             │
//!                      4. append new events, expecting the version read ───────┘
//!                         (conflict → reload and retry; If-Match → 412)
//!
//!  GET /accounts/{id}/events ──► store::EventStore::read_stream (the audit trail)
//! ```
//!
//! ## Modules
//!
//! - [`domain`]: pure deciders and value types (money, ids, the account aggregate). No IO.
//! - [`store`]: the append-only event log: the [`store::EventStore`] port with a PostgreSQL and
//!   a SQLite adapter, gap-free global positions, and the event codec (upcasting hook).
//! - [`command`]: load → fold → decide → append, with per-account serialization and retries.
//! - [`http`]: axum routes, DTOs, extractors, RFC 9457 problems, the OpenAPI document.
//! - [`app`]: shared state, router and server loop; [`config`]: the command line;
//!   [`db`]: connecting and migrating; [`clock`]: injected time and ids;
//!   [`telemetry`]: logging.

pub mod app;
pub mod clock;
pub mod command;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod store;
pub mod telemetry;
