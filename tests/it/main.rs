#![allow(unreachable_pub)]

//! Integration tests: one binary, so the crate links once.
//!
//! Every behaviour test runs against SQLite and PostgreSQL (see `common::backend_tests!`).
//! PostgreSQL tests need `FOLDBANK_TEST_POSTGRES_URL`; without it they are skipped with one
//! line of explanation, unless `FOLDBANK_REQUIRE_POSTGRES=1` makes that a failure (CI).

mod common;

mod bank_model;

mod accounts_api;
mod authorization;
mod chain;
mod concurrency;
mod conservation;
mod explorer;
mod feed;
mod health;
mod histories;
mod hold_expiry;
mod holds;
mod idempotency;
mod leadership;
mod ledger;
mod limits;
mod local_mode;
mod logs;
mod metrics;
mod openapi_spec;
pub(crate) mod operations;
mod overdraft_fees;
mod overload;
mod owners;
mod parking;
mod pausing;
mod personal_data;
mod read_models;
mod replicas;
mod server;
mod snapshots;
mod split_read;
mod statements;
mod store_contract;
mod stream_ids;
mod transfers;
mod webhook_delivery;
mod webhooks;
