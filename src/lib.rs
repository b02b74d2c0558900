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
//!  http::accounts ──► command::pipeline                             ▼
//!   (DTO → domain      (CommandHandler<A>)                 http::account_views ──► projection::ReadModels
//!    values, 400s)     1. answered before? (Idempotency-Key)                                 │
//!                      2. load the stream and fold it:                    (min_position:     │
//!                         state = fold(evolve, initial, events)           wait on the        │
//!                      3. A::decide(&state, cmd), and a              projection::Reads,      │
//!                         Companion's on a second stream                  else 503)          │
//!                      4. one append, each stream at the                                     │
//!                         version it was decided on                                          │
//!                         │  (conflict → reload, retry; If-Match → 412)                      │
//!                         ▼                                                                  ▼
//!                  store::EventStore ── events table (append-only) ──► follow (one loop per follower)
//!                         │                 ▲                             ├─► projection::* ──► read tables
//!                         └─ wake ──────────┘ NOTIFY / poll               │    (batch + checkpoint    account_balances
//!                                                                          │     in one tx)           account_transactions
//!                                                                          ├─► process::transfers ──► commands (orchestration)
//!                                                                          └─► policy::overdraft_fees ──► commands (choreography)
//!
//!  GET /accounts/{id}?at=T  ──► query::AccountHistory: fold the events with occurred_at <= T (time travel),
//!                               from the latest snapshot when it is no later than T
//!  GET /accounts/{id}/events ──► query::EventLog: the log itself, a page at a time (the audit trail)
//!  GET /events, /events/stream ──► query::EventLog: the whole log by position, paged or live (SSE),
//!                               for other services
//! ```
//!
//! Commands answer the global `position` of their last event; a query given
//! `min_position=<position>` waits until the read models reflect it (read-your-writes).
//!
//! ## Modules
//!
//! - [`domain`]: pure deciders and value types (money, ids, the account aggregate). No IO.
//! - [`store`]: the append-only event log: the [`store::EventStore`] port and its SQL adapter,
//!   gap-free global positions, and the event codec (upcasting hook).
//! - [`command`]: the pipeline every aggregate runs (answered before → load → admit → stamp →
//!   decide → append → answer, [`command::pipeline`]), with per-stream serialization, a cache of
//!   folded states, a snapshot policy, and retries.
//! - [`follow`]: the one loop every follower of the log runs in: checkpoints, batches,
//!   waking, back-off, leadership, shutdown; and [`follow::Reaction`], the follower that acts
//!   on one kind of event with commands (the transfer's process manager, the policies).
//! - [`projection`]: the read models, one module each: row type, pure fold and statements, and
//!   beside them the queries over that table (methods of [`projection::ReadModels`]); and the
//!   operations on them, `verify` (the tables against a fold of the log in memory) and the
//!   blue/green `rebuild` (a fresh copy built beside the live table, then swapped in).
//! - [`process`]: what acts on the log and on time: the transfer's process manager
//!   (orchestration: credit, or refund as compensation) and the hold expiry scheduler.
//! - [`policy`]: reactions with no state of their own (choreography, the page's saga): the
//!   overdraft fee policy charges a fee when an account's balance crosses below zero.
//! - [`query`]: queries over the log itself: the audit trail, the feed, and time travel.
//! - [`http`]: axum routes, DTOs, extractors, RFC 9457 problems, the OpenAPI document;
//!   authentication, object-level authorization and the rate limit per caller; the explorer
//!   page at `/explorer`, a client of the API served from the binary.
//! - [`integration`]: the public contract other services rely on (integration events, mapped
//!   from the domain events in one place) and its Standard Webhooks signatures.
//! - [`auth`]: API keys (made, listed and revoked with `foldbank keys`) and who a caller is.
//! - [`privacy`]: personal data sealed with a key per owner and erased by deleting that key
//!   (crypto-shredding); [`secret_file`]: key files, written once and readable by their owner
//!   only.
//! - [`db`]: the only module that knows which database runs: connecting, migrating,
//!   transactions, statements written once for both backends, copies of a table's definition,
//!   and the write/read pair ([`db::Databases`]: the read models may live in a database of
//!   their own).
//! - [`app`]: wires the parts together and runs the server; [`cli`]: one module per command of
//!   the binary (`serve`, `rebuild`, `verify`, `parked`, `keys`, `snapshots`); [`config`]: the
//!   server's settings; [`clock`]: injected time and ids; [`telemetry`]: logging.
//! - [`metrics`]: the Prometheus metrics (names, recorder, exposition) behind `GET /metrics`;
//!   [`readiness`]: whether this process is fit for traffic (`GET /health/ready`).

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod db;
pub mod domain;
pub mod follow;
pub mod http;
pub mod integration;
pub mod metrics;
pub mod policy;
pub mod privacy;
pub mod process;
pub mod projection;
pub mod query;
pub mod readiness;
pub mod secret_file;
pub mod store;
pub mod telemetry;
