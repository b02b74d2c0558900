//! Benchmarks: `cargo bench` prints what the patterns cost.
//!
//! - `fold`: rebuilding an account from its events is linear in the history (why snapshots
//!   exist);
//! - `decide`: checking a command against folded state;
//! - `personal`: sealing a description, opening it, unwrapping an owner's data key;
//! - `command`: the whole write path on SQLite (load, fold, decide, append with fsync), for a
//!   short and a long history;
//! - `balance_at`: the balance at an instant from the read model, for a short and a long
//!   history: an index lookup, so it stays flat;
//! - `projector`: how fast the read models catch up with the log (events per second).
//!
//! Everything runs on throwaway SQLite files. Timings, not tests: nothing here asserts.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use foldbank::app::App;
use foldbank::clock::{ManualClock, UuidV7};
use foldbank::command::Precondition;
use foldbank::db::Database;
use foldbank::domain::Decider;
use foldbank::domain::account::{
    AccountCommand, AccountDecider, AccountEvent, Deposit, OpenAccount, Withdraw,
};
use foldbank::domain::ids::{AccountId, OwnerId, TransactionId};
use foldbank::domain::money::{Amount, Currency, Limit};
use uuid::Uuid;

fn eur() -> Currency {
    "EUR".parse().expect("EUR")
}

fn amount(minor_units: i64) -> Amount {
    Amount::new(minor_units).expect("valid amount")
}

/// An account history of `length` events: opened, then alternating deposits and withdrawals.
fn history(length: usize) -> Vec<AccountEvent> {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid");
    let mut events = vec![AccountEvent::AccountOpened {
        account_id: AccountId(Uuid::now_v7()),
        owner_id: OwnerId(Uuid::now_v7()),
        currency: eur(),
        overdraft_limit: Limit::ZERO,
        daily_withdrawal_limit: None,
        holder_name: None,
        overdraft_fee: None,
        occurred_at: start,
    }];
    for n in 1..length {
        let occurred_at = start + TimeDelta::minutes(n as i64);
        let transaction_id = TransactionId(Uuid::now_v7());
        events.push(if n % 2 == 1 {
            AccountEvent::MoneyDeposited {
                transaction_id,
                amount: amount(100),
                currency: eur(),
                description: None,
                occurred_at,
            }
        } else {
            AccountEvent::MoneyWithdrawn {
                transaction_id,
                amount: amount(50),
                currency: eur(),
                description: None,
                occurred_at,
            }
        });
    }
    events
}

fn domain(c: &mut Criterion) {
    let mut group = c.benchmark_group("fold");
    for length in [100, 1_000, 10_000] {
        let events = history(length);
        group.throughput(Throughput::Elements(length as u64));
        group.bench_with_input(BenchmarkId::from_parameter(length), &events, |b, events| {
            b.iter(|| AccountDecider::fold(black_box(events)))
        });
    }
    group.finish();

    // What the group commit adds per event under the log's lock: the canonical form and the
    // SHA-256 of the link.
    let deposit = foldbank::store::RecordedEvent {
        global_position: 1_000_000,
        stream_type: "account".into(),
        stream_id: Uuid::now_v7(),
        stream_version: 42,
        event_id: Uuid::now_v7(),
        event_type: "MoneyDeposited".into(),
        schema_version: 2,
        payload: serde_json::json!({ "transaction_id": Uuid::now_v7(), "amount": 2500,
            "currency": "EUR", "description": "groceries", "occurred_at": Utc::now() }),
        metadata: serde_json::json!({ "command": "Deposit", "command_id": Uuid::now_v7(),
            "correlation_id": "req-1", "key_id": null }),
        occurred_at: Utc::now(),
        recorded_at: Utc::now(),
    };
    c.bench_function("chain/link_one_event", |b| {
        let chained = foldbank::store::chain::Chained::from(&deposit);
        b.iter(|| foldbank::store::chain::GENESIS.then(black_box(&chained)))
    });
    // The group commit splits that: the canonical form prepared by the command's own task,
    // then, under the lock, the position and record time put in and the hash taken.
    let new = foldbank::store::NewEvent {
        event_id: deposit.event_id,
        event_type: deposit.event_type.clone(),
        schema_version: deposit.schema_version,
        payload: deposit.payload.clone(),
        metadata: deposit.metadata.clone(),
        occurred_at: deposit.occurred_at,
    };
    c.bench_function("chain/prepare_one_event", |b| {
        b.iter(|| foldbank::store::chain::Prepared::new(black_box(&new), "account", deposit.stream_id))
    });
    let prepared = foldbank::store::chain::Prepared::new(&new, "account", deposit.stream_id);
    c.bench_function("chain/link_one_prepared_event_under_the_lock", |b| {
        b.iter(|| {
            let canonical = black_box(&prepared).canonical_bytes(1_000_000, 42, &deposit.recorded_at);
            foldbank::store::chain::GENESIS.then_prepared(&canonical)
        })
    });

    // Personal data: what a command with a description pays to seal it (its owner's key
    // cached), and what an answer pays to open it (the key read, then unwrapped).
    let master = foldbank::privacy::MasterKey::generate().expect("a master key");
    let key = foldbank::privacy::DataKey::generate(Uuid::now_v7()).expect("a data key");
    let wrapped = master.wrap_data_key(&key).expect("wrapped");
    let sealed = key.seal("groceries, 2500 cents");
    c.bench_function("personal/seal_a_description", |b| {
        b.iter(|| black_box(&key).seal(black_box("groceries, 2500 cents")))
    });
    c.bench_function("personal/open_a_description", |b| {
        b.iter(|| black_box(&key).open(black_box(&sealed)))
    });
    c.bench_function("personal/unwrap_a_data_key", |b| {
        b.iter(|| master.unwrap_data_key(key.owner(), black_box(&wrapped)))
    });

    let state = AccountDecider::fold(&history(1_000));
    c.bench_function("decide/withdraw", |b| {
        b.iter(|| {
            AccountDecider::decide(
                black_box(&state),
                AccountCommand::Withdraw(Withdraw {
                    transaction_id: TransactionId(Uuid::nil()),
                    amount: amount(10),
                    currency: eur(),
                    description: None,
                    occurred_at: Utc::now(),
                }),
            )
        })
    });
}

/// A service on a fresh SQLite file, with a clock that never stands still.
struct Bench {
    state: App,
    clock: ManualClock,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new() -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
        let database = Database::connect(&url, 8).await.expect("database");
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid"));
        let state = App::new(database, Arc::new(clock.clone()), Arc::new(UuidV7));
        Bench {
            state,
            clock,
            _dir: dir,
        }
    }

    /// Opens an account and gives it `movements` deposits.
    async fn account_with(&self, movements: usize) -> AccountId {
        let id = AccountId(Uuid::now_v7());
        self.state
            .http
            .commands
            .handle(id, Precondition::None, None, |stamp| {
                AccountCommand::Open(OpenAccount {
                    account_id: id,
                    owner_id: OwnerId(Uuid::now_v7()),
                    currency: eur(),
                    overdraft_limit: Limit::ZERO,
                    daily_withdrawal_limit: None,
                    initial_deposit: None,
                    holder_name: None,
                    overdraft_fee: None,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await
            .expect("open");
        for _ in 0..movements {
            self.deposit(id).await;
        }
        id
    }

    async fn deposit(&self, id: AccountId) {
        self.clock.advance(TimeDelta::minutes(1));
        self.state
            .http
            .commands
            .handle(id, Precondition::None, None, |stamp| {
                AccountCommand::Deposit(Deposit {
                    transaction_id: stamp.transaction_id,
                    amount: amount(1),
                    currency: eur(),
                    description: None,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await
            .expect("deposit");
    }
}

fn sqlite(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let mut group = c.benchmark_group("command/deposit_sqlite");
    group.sample_size(20).measurement_time(Duration::from_secs(5));
    for history in [10, 1_000] {
        let (bench, account) = runtime.block_on(async {
            let bench = Bench::new().await;
            let account = bench.account_with(history).await;
            (bench, account)
        });
        group.bench_function(BenchmarkId::new("history", history), |b| {
            b.to_async(&runtime).iter(|| bench.deposit(account))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("balance_at_sqlite");
    for history in [10, 2_000] {
        let (bench, account, projector) = runtime.block_on(async {
            let bench = Bench::new().await;
            let account = bench.account_with(history).await;
            let projector = bench.state.start_projections();
            bench.state.catch_up().await.expect("projector");
            (bench, account, projector)
        });
        let middle = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid")
            + TimeDelta::minutes(history as i64 / 2);
        group.bench_function(BenchmarkId::new("history", history), |b| {
            b.to_async(&runtime)
                .iter(|| bench.state.http.read_models.balance_at(account.as_uuid(), middle))
        });
        runtime.block_on(projector.stop());
    }
    group.finish();

    let mut group = c.benchmark_group("projector_sqlite");
    group.sample_size(10);
    const EVENTS: u64 = 2_000;
    group.throughput(Throughput::Elements(EVENTS));
    group.bench_function("catch_up_2000_events", |b| {
        b.to_async(&runtime).iter_custom(|iterations| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let bench = Bench::new().await;
                bench.account_with(EVENTS as usize - 1).await;
                let started = Instant::now();
                let projector = bench.state.start_projections();
                bench.state.catch_up().await.expect("projector");
                total += started.elapsed();
                projector.stop().await;
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, domain, sqlite);
criterion_main!(benches);
