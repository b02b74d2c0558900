//! # foldbank
//!
//! A banking service built with CQRS and Event Sourcing, written to be read.
//!
//! ## How data flows
//!
//! ```text
//!  POST /accounts/{id}/withdrawals                         GET /accounts/{id}, /transactions,
//!        │                                                     /balance?at=, /accounts
//!        ▼                                                          │
//!  http::accounts ──► command::AccountCommandHandler               ▼
//!   (DTO → domain      1. load the stream, fold:             http::account_views ──► query::ReadModels
//!    values, 400s)        state = fold(evolve, initial, events)      (min_position:        │
//!                      2. domain::account::decide(&state, cmd)        wait, else 503)       │
//!                      3. append, expecting the version read                                 │
//!                         │  (conflict → reload, retry; If-Match → 412)                     │
//!                         ▼                                                                  ▼
//!                  store::EventStore ── events table (append-only) ──► projection::Projector ──► read tables
//!                         │                 ▲                            (one task per         account_balances
//!                         └─ wake ──────────┘ NOTIFY / poll               projection, batch     account_transactions
//!                                                                          + checkpoint in one tx)
//!
//!  GET /accounts/{id}?at=T  ──► query::AccountHistory: fold the events with occurred_at <= T (time travel)
//!  GET /accounts/{id}/events ──► the log itself (the audit trail)
//! ```
//!
//! Commands answer the global `position` of their last event; a query given
//! `min_position=<position>` waits until the read models reflect it (read-your-writes).
//!
//! ## Modules
//!
//! - [`domain`]: pure deciders and value types (money, ids, the account aggregate). No IO.
//! - [`store`]: the append-only event log: the [`store::EventStore`] port with a PostgreSQL and
//!   a SQLite adapter, gap-free global positions, and the event codec (upcasting hook).
//! - [`command`]: load → fold → decide → append, with per-account serialization and retries.
//! - [`projection`]: the projector tasks and the read models they maintain, one file each.
//! - [`query`]: reads of the read models, and time travel over the log.
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
pub mod process;
pub mod projection;
pub mod query;
pub mod store;
pub mod telemetry;
