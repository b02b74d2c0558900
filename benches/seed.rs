//! Seeds a database with a realistic log for the scale benchmarks: N events over M accounts,
//! decided by the real deciders and written by the real event store, many streams per append.
//!
//! ```sh
//! cargo bench --bench seed -- --database-url 'sqlite:/tmp/big.db?mode=rwc' --events 1000000
//! cargo bench --bench seed -- --database-url postgres://postgres@127.0.0.1/big --events 10000000
//! ```
//!
//! The accounts open with a deposit; a tenth of them hold USD, the rest EUR. Then each round
//! settles the transfers the previous round requested (the process manager's steps: the destination's
//! credit and the transfer's `Settled`, then the source's completion; or, when the destination
//! refuses, as a USD account refuses EUR, the source's refund) and decides new commands on
//! accounts picked at random: deposits, withdrawals (a refused one, for want of funds, is
//! dropped as the service would refuse it) and transfers (the source's debit with the
//! transfer's `Requested`). A round is one [`Append`] of every stream it touched, each at the
//! version the round decided it on, so the log is exactly what the service writes, in large
//! batches: events, stream types, versions, metadata, and a snapshot of every account at the
//! end (as the service keeps one every `SNAPSHOT_EVERY` events).
//!
//! Business time starts on 2026-01-01 and advances a second per command. The database should
//! be empty: the seeder writes new streams only. A measurement tool, not a test: it prints how
//! long it took and exits.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use clap::Parser;
use foldbank::command::Aggregate;
use foldbank::db::{Database, Databases};
use foldbank::domain::Decider;
use foldbank::domain::account::{
    self, AccountCommand, AccountDecider, AccountState, CompleteTransfer, CreditTransfer, DebitTransfer,
    Deposit, OpenAccount, RefundReason, RefundTransfer, Withdraw,
};
use foldbank::domain::ids::{AccountId, OwnerId, TransactionId, TransferId};
use foldbank::domain::money::{Amount, Limit};
use foldbank::domain::transfer::{Outcome, Terms, TransferCommand, TransferDecider, TransferState};
use foldbank::metrics::Metrics;
use foldbank::store::{self, Append, EventStore, NewEvent, Snapshot, StreamAppend, codec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    /// How many events to write (the last round may write a few more).
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    /// Events per append (one transaction).
    #[arg(long, default_value_t = 5_000)]
    batch: usize,
    /// The random generator's seed: the same seed makes the same commands.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// An account as the seeder knows it: its folded state and its stream's version.
struct Seeded {
    id: AccountId,
    state: AccountState,
    version: i64,
}

/// A transfer requested by the previous round, to settle in this one.
struct InFlight {
    transfer_id: TransferId,
    source: usize,
    destination: usize,
    terms: Terms,
    state: TransferState,
}

/// One append being built: every stream a round touched, with its events.
#[derive(Default)]
struct Round {
    streams: Vec<StreamAppend>,
    index: HashMap<Uuid, usize>,
    events: usize,
}

impl Round {
    /// `events` of stream `id`, decided on its version `version` (the stream's version when the
    /// round first touches it is the append's expected version).
    fn add<A: Aggregate>(&mut self, id: A::Id, version: i64, command: &'static str, events: &[A::Event]) {
        let stream_id = A::stream_id(id);
        let slot = *self.index.entry(stream_id).or_insert_with(|| {
            self.streams.push(StreamAppend {
                stream_type: A::STREAM_TYPE.to_owned(),
                stream_id,
                expected_version: version,
                events: Vec::new(),
            });
            self.streams.len() - 1
        });
        for event in events {
            let (event_type, payload) = codec::encode(event).expect("events encode");
            self.streams[slot].events.push(NewEvent {
                event_id: Uuid::now_v7(),
                schema_version: codec::current_schema_version(&event_type),
                event_type,
                payload,
                metadata: json!({ "command": command, "correlation_id": "seed" }),
                occurred_at: A::occurred_at(event),
            });
        }
        self.events += events.len();
    }
}

struct Seeder {
    rng: StdRng,
    accounts: Vec<Seeded>,
    in_flight: Vec<InFlight>,
    now: DateTime<Utc>,
}

impl Seeder {
    fn new(accounts: usize, seed: u64) -> Self {
        Seeder {
            rng: StdRng::seed_from_u64(seed),
            accounts: (0..accounts)
                .map(|_| Seeded {
                    id: AccountId(Uuid::now_v7()),
                    state: AccountState::NotOpened,
                    version: 0,
                })
                .collect(),
            in_flight: Vec::new(),
            now: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("a valid date"),
        }
    }

    fn tick(&mut self) -> DateTime<Utc> {
        self.now += TimeDelta::seconds(1);
        self.now
    }

    /// Decides `command` on account `index`; on success adds its events to `round` and folds
    /// them. A refusal changes nothing and is answered.
    fn account(
        &mut self,
        round: &mut Round,
        index: usize,
        command: AccountCommand,
    ) -> Result<(), account::AccountError> {
        let name = command.name();
        let seeded = &mut self.accounts[index];
        let events = AccountDecider::decide(&seeded.state, command)?;
        round.add::<AccountDecider>(seeded.id, seeded.version, name, &events);
        seeded.state = events.iter().fold(seeded.state.clone(), AccountDecider::evolve);
        seeded.version += i64::try_from(events.len()).expect("few events");
        Ok(())
    }

    fn transfer(
        round: &mut Round,
        id: TransferId,
        state: &TransferState,
        version: i64,
        command: TransferCommand,
    ) -> TransferState {
        let events = TransferDecider::decide(state, command)
            .expect("the seeder's transfers follow the process manager's steps");
        round.add::<TransferDecider>(id, version, "SettleTransfer", &events);
        events.iter().fold(*state, TransferDecider::evolve)
    }

    fn open_all(&mut self, round: &mut Round) {
        let owners: Vec<OwnerId> = (0..self.accounts.len().div_ceil(3))
            .map(|_| OwnerId(Uuid::now_v7()))
            .collect();
        for index in 0..self.accounts.len() {
            let currency = if index % 10 == 9 { "USD" } else { "EUR" };
            let command = AccountCommand::Open(OpenAccount {
                account_id: self.accounts[index].id,
                owner_id: owners[index / 3],
                currency: currency.parse().expect("a currency"),
                overdraft_limit: Limit::new(0).expect("a limit"),
                daily_withdrawal_limit: None,
                initial_deposit: Some((TransactionId(Uuid::now_v7()), amount(1_000_000))),
                holder_name: None,
                overdraft_fee: None,
                occurred_at: self.tick(),
            });
            self.account(round, index, command).expect("a new account opens");
        }
    }

    /// The process manager's next steps for every transfer the previous round requested.
    fn settle(&mut self, round: &mut Round) {
        for transfer in std::mem::take(&mut self.in_flight) {
            let occurred_at = self.tick();
            let credit = AccountCommand::CreditTransfer(CreditTransfer {
                transfer_id: transfer.transfer_id,
                transaction_id: TransactionId(Uuid::now_v7()),
                from_account: transfer.terms.from_account,
                amount: transfer.terms.amount,
                currency: transfer.terms.currency,
                description: None,
                occurred_at,
            });
            let (outcome, last_step) = match self.account(round, transfer.destination, credit) {
                Ok(()) => (
                    Outcome::Credited,
                    AccountCommand::CompleteTransfer(CompleteTransfer {
                        transfer_id: transfer.transfer_id,
                        occurred_at,
                    }),
                ),
                Err(_) => {
                    let reason = RefundReason::CurrencyMismatch;
                    (
                        Outcome::Refunded { reason },
                        AccountCommand::RefundTransfer(RefundTransfer {
                            transfer_id: transfer.transfer_id,
                            transaction_id: TransactionId(Uuid::now_v7()),
                            reason,
                            occurred_at,
                        }),
                    )
                }
            };
            let settle = TransferCommand::Settle {
                transfer_id: transfer.transfer_id,
                outcome,
                occurred_at,
            };
            Seeder::transfer(round, transfer.transfer_id, &transfer.state, 1, settle);
            self.account(round, transfer.source, last_step)
                .expect("the source settles its transfer");
        }
    }

    /// One new command on a random account: a deposit, a withdrawal or a transfer.
    fn next_command(&mut self, round: &mut Round) {
        let index = self.rng.random_range(0..self.accounts.len());
        let AccountState::Opened(account) = &self.accounts[index].state else {
            return;
        };
        let currency = account.currency;
        let occurred_at = self.tick();
        let transaction_id = TransactionId(Uuid::now_v7());
        let dice = self.rng.random_range(0..100);
        if dice < 45 {
            let amount = amount(self.rng.random_range(1..100_000));
            let deposit = Deposit {
                transaction_id,
                amount,
                currency,
                description: None,
                occurred_at,
            };
            let _ = self.account(round, index, AccountCommand::Deposit(deposit));
        } else if dice < 75 {
            let amount = amount(self.rng.random_range(1..50_000));
            let withdrawal = Withdraw {
                transaction_id,
                amount,
                currency,
                description: None,
                occurred_at,
            };
            let _ = self.account(round, index, AccountCommand::Withdraw(withdrawal));
        } else {
            let destination = self.rng.random_range(0..self.accounts.len());
            if destination == index {
                return;
            }
            let transfer_id = TransferId(Uuid::now_v7());
            let terms = Terms {
                from_account: self.accounts[index].id,
                to_account: self.accounts[destination].id,
                amount: amount(self.rng.random_range(1..20_000)),
                currency,
            };
            let debit = AccountCommand::DebitTransfer(DebitTransfer {
                transfer_id,
                transaction_id,
                to_account: terms.to_account,
                amount: terms.amount,
                currency,
                description: None,
                occurred_at,
            });
            if self.account(round, index, debit).is_ok() {
                let request = TransferCommand::Request {
                    transfer_id,
                    terms,
                    occurred_at,
                };
                let state =
                    Seeder::transfer(round, transfer_id, &TransferDecider::initial_state(), 0, request);
                self.in_flight.push(InFlight {
                    transfer_id,
                    source: index,
                    destination,
                    terms,
                    state,
                });
            }
        }
    }
}

fn amount(minor_units: i64) -> Amount {
    Amount::new(minor_units).expect("a positive amount")
}

async fn append(store: &dyn EventStore, round: Round) -> Result<(), store::StoreError> {
    if round.streams.is_empty() {
        return Ok(());
    }
    store
        .append(Append {
            streams: round.streams,
            idempotency: None,
            snapshot: None,
        })
        .await
        .map(|_| ())
}

/// Every account's state as its snapshot, as the service would have stored it by now.
async fn snapshot_all(store: &dyn EventStore, seeder: &Seeder) -> Result<(), Box<dyn std::error::Error>> {
    let head = store.head_position().await?;
    for seeded in &seeder.accounts {
        store
            .save_snapshot(&Snapshot {
                stream_type: AccountDecider::STREAM_TYPE.to_owned(),
                stream_id: seeded.id.0,
                version: seeded.version,
                // Positions only order snapshots of one stream; the head is no earlier than
                // the account's last event.
                position: head,
                schema_version: account::STATE_SCHEMA_VERSION,
                state: serde_json::to_value(&seeded.state)?,
                taken_at: seeder.now,
            })
            .await?;
    }
    Ok(())
}

async fn seed(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let database = Database::connect(&args.database_url, 4).await?;
    let store: Arc<dyn EventStore> = store::observed_event_store(
        &database,
        Arc::default(),
        Metrics::new(&Databases::from(database.clone())),
    );
    let started = Instant::now();
    let mut seeder = Seeder::new(args.accounts, args.seed);
    let mut round = Round::default();
    seeder.open_all(&mut round);
    let mut written = round.events as u64;
    append(&*store, round).await?;
    while written < args.events {
        let mut round = Round::default();
        seeder.settle(&mut round);
        while round.events < args.batch && written + (round.events as u64) < args.events {
            seeder.next_command(&mut round);
        }
        written += round.events as u64;
        append(&*store, round).await?;
        if written % 1_000_000 < args.batch as u64 {
            println!(
                "{written} events, {:.0} events/s",
                written as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    snapshot_all(&*store, &seeder).await?;
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {written} events over {} accounts in {elapsed:.1} s ({:.0} events/s); transfers left in flight: {}",
        args.accounts,
        written as f64 / elapsed,
        seeder.in_flight.len(),
    );
    database.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // `cargo bench` passes `--bench` to every bench target.
    let args = Args::parse_from(std::env::args().filter(|arg| arg != "--bench"));
    match seed(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seed failed: {error}");
            ExitCode::FAILURE
        }
    }
}
