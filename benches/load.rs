//! A load generator for a running foldbank, on either database: what the service sustains over
//! HTTP, measured from outside the way a client sees it.
//!
//! ```sh
//! cargo bench --bench load -- --url http://127.0.0.1:8080                   # workload A
//! cargo bench --bench load -- --url http://127.0.0.1:8080 --mode holds      # holds
//! cargo bench --bench load -- --url http://127.0.0.1:8080 --mode history    # history mode
//! ```
//!
//! - **Workload A** (`--mode commands`, the default) opens `--accounts` EUR accounts with a large
//!   opening deposit, then sends `--commands` deposits and withdrawals (half each, small random
//!   amounts, accounts picked uniformly at random) from `--concurrency` clients. It prints the
//!   commands per second over the command phase only (opening the accounts is set-up), the
//!   latency percentiles, and every non-2xx answer by status. The opening deposit is large
//!   enough that no withdrawal should be refused, so a 422 here is a finding, not noise.
//! - **Holds** (`--mode holds`) opens the accounts as workload A does, then each client places
//!   a hold on a random account and captures it, `--commands` commands in all (half placements,
//!   half captures), and prints the figures of each beside the pair's: what authorizing and
//!   settling a card payment costs next to workload A's single withdrawal.
//! - `--descriptions` gives every deposit and withdrawal a description: personal data, which
//!   the service seals with its owner's data key before the command is decided (the cost of
//!   "Personal data" in docs/operating.md, beside a run without).
//! - **History mode** (`--mode history`) asks whether an account's past slows down its next command:
//!   it appends `--history` deposits to one account, then times `--samples` sequential
//!   deposits on that account and on a fresh one, alternating between them so that both see the
//!   same machine, and prints how many times the long account's command costs.
//!
//! This is a measurement, not a test: it exits 0 whatever the figures and the answers are,
//! and 1 only when the service cannot be reached. Run the service from a release build
//! (`cargo build --release`), on another port than anything else, and read the figures
//! together with the one-line machine summary printed first: on a shared two-core machine the
//! load tool and the service compete for the same cores.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};
use uuid::Uuid;

/// Every request gives up after this long; a timed-out request counts as a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The opening deposit of every account, in cents: far more than the withdrawals can take.
const OPENING_DEPOSIT: i64 = 1_000_000;

/// Deposits and withdrawals move a random amount in `1..=MAX_AMOUNT` cents.
const MAX_AMOUNT: u64 = 1000;

#[derive(Debug, Parser)]
#[command(about = "Load generator for a running foldbank (see the doc comment of benches/load.rs)")]
struct Options {
    /// Which workload to run.
    #[arg(long, value_enum, default_value_t = Mode::Commands)]
    mode: Mode,

    /// The service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,

    /// Sent as `Authorization: Bearer <key>` on every request.
    #[arg(long)]
    api_key: Option<String>,

    /// Send a fresh `Idempotency-Key` header with every command.
    #[arg(long)]
    idempotency_keys: bool,

    /// Give every deposit and withdrawal a `description` (personal data: sealed with its
    /// owner's key before it is stored), to measure what sealing costs.
    #[arg(long)]
    descriptions: bool,

    /// How many clients send commands at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    concurrency: u64,

    /// Workload A: how many accounts to open first.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    accounts: u64,

    /// Workload A: how many deposits and withdrawals to send.
    #[arg(long, default_value_t = 10_000)]
    commands: u64,

    /// Workload A: seed of the random choices (accounts, kinds, amounts); the same seed sends
    /// the same commands.
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// History mode: how many deposits to append to the long account first.
    #[arg(long, default_value_t = 10_000)]
    history: u64,

    /// History mode: how many sequential deposits to time on each account.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..))]
    samples: u64,

    /// Passed by `cargo bench` to every bench target; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Mode {
    /// Workload A: random deposits and withdrawals over many accounts.
    Commands,
    /// Holds placed and captured on random accounts.
    Holds,
    /// One account with a long history against a fresh one: does the past cost?
    History,
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let service = match Service::new(&options) {
        Ok(service) => service,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let database = match service.database().await {
        Ok(database) => database,
        Err(error) => {
            eprintln!("error: foldbank is not reachable at {}: {error}", options.url);
            return ExitCode::FAILURE;
        }
    };
    let cores = std::thread::available_parallelism().map_or(0, |cores| cores.get());
    println!(
        "machine: {cores} cores available to this process; service: {} on {database}; \
         {} clients{}",
        options.url,
        options.concurrency,
        if options.idempotency_keys {
            ", idempotency keys"
        } else {
            ""
        },
    );
    let outcome = match options.mode {
        Mode::Commands => {
            let random = Random::new(options.seed);
            workload_a(
                &service,
                random,
                options.accounts,
                options.commands,
                options.concurrency,
            )
            .await
        }
        Mode::Holds => {
            holds_mode(
                &service,
                Random::new(options.seed),
                options.accounts,
                options.commands,
                options.concurrency,
            )
            .await
        }
        Mode::History => history_mode(&service, options.history, options.samples, options.concurrency).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Workload A: open the accounts, then time the commands.
async fn workload_a(
    service: &Service,
    random: Random,
    accounts: u64,
    commands: u64,
    concurrency: u64,
) -> Result<(), String> {
    let accounts = open_accounts(service, accounts).await?;
    println!(
        "opened {} accounts with {OPENING_DEPOSIT} cents each",
        accounts.len()
    );
    let run = run_commands(service, &accounts, random, commands, concurrency).await;
    report("workload A: random deposits and withdrawals", &run);
    Ok(())
}

/// Holds: open the accounts, then time placements and captures, a pair per client turn.
async fn holds_mode(
    service: &Service,
    random: Random,
    accounts: u64,
    commands: u64,
    concurrency: u64,
) -> Result<(), String> {
    let accounts: Arc<[Uuid]> = open_accounts(service, accounts).await?.into();
    println!(
        "opened {} accounts with {OPENING_DEPOSIT} cents each",
        accounts.len()
    );
    let pairs = commands / 2;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (service, accounts, next) = (service.clone(), accounts.clone(), next.clone());
        let mut random = random.stream(worker);
        workers.spawn(async move {
            let (mut placed, mut captured) = (Run::default(), Run::default());
            while next.fetch_add(1, Ordering::Relaxed) < pairs {
                let account = accounts[random.below(accounts.len() as u64) as usize];
                let amount = 1 + random.below(MAX_AMOUNT) as i64;
                let (answer, hold) = service.place_hold(account, amount).await;
                placed.record(answer);
                if let Some(hold) = hold {
                    captured.record(service.capture(account, hold).await);
                }
            }
            (placed, captured)
        });
    }
    let (mut placed, mut captured) = (Run::default(), Run::default());
    while let Some(worker) = workers.join_next().await {
        let (their_placed, their_captured) = worker.expect("a client task panicked");
        placed.merge(their_placed);
        captured.merge(their_captured);
    }
    let mut both = Run {
        wall_clock: started.elapsed(),
        ..Run::default()
    };
    both.merge(placed.clone());
    both.merge(captured.clone());
    report("holds: placements and captures together", &both);
    report("  of which placements (POST /accounts/{id}/holds)", &placed);
    report(
        "  of which captures (POST .../holds/{hold_id}/capture)",
        &captured,
    );
    Ok(())
}

/// History mode: grow one account, then compare a command on it with one on a fresh account.
async fn history_mode(service: &Service, history: u64, samples: u64, concurrency: u64) -> Result<(), String> {
    let long = service.open_account().await?;
    let started = Instant::now();
    let growth = grow(service, long, history, concurrency).await;
    let seconds = started.elapsed().as_secs_f64();
    let appended = growth.latencies.len();
    println!(
        "appended {appended} deposits to one account in {seconds:.1} s ({:.0} commands/s){}",
        appended as f64 / seconds.max(f64::EPSILON),
        failures_suffix(&growth.failures),
    );

    let fresh = service.open_account().await?;
    let mut on_long = Run::default();
    let mut on_fresh = Run::default();
    for _ in 0..samples {
        on_long.record(service.deposit(long, 1).await);
        on_fresh.record(service.deposit(fresh, 1).await);
    }
    // Opening with a deposit records two events; each sample adds one more to both accounts.
    let events = appended + 2;
    report(
        &format!("{samples} sequential deposits on the account with {events} events"),
        &on_long,
    );
    report(
        &format!("{samples} sequential deposits on a fresh account"),
        &on_fresh,
    );
    if let (Some(long_p50), Some(fresh_p50)) = (
        on_long.latencies.percentile(50.0),
        on_fresh.latencies.percentile(50.0),
    ) {
        let ratio = |p: f64| {
            let long = on_long.latencies.percentile(p).unwrap_or_default().as_secs_f64();
            let fresh = on_fresh.latencies.percentile(p).unwrap_or_default().as_secs_f64();
            long / fresh.max(f64::EPSILON)
        };
        println!(
            "a command on an account with {events} events costs {:.2} times one on a fresh account \
             (p50 {} ms vs {} ms; p99 ratio {:.2})",
            ratio(50.0),
            millis(long_p50),
            millis(fresh_p50),
            ratio(99.0),
        );
    }
    Ok(())
}

/// Opens `count` accounts, sixteen at a time, and returns their ids.
async fn open_accounts(service: &Service, count: u64) -> Result<Vec<Uuid>, String> {
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..count.min(16) {
        let (service, next) = (service.clone(), next.clone());
        workers.spawn(async move {
            let mut opened = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                opened.push(service.open_account().await?);
            }
            Ok::<_, String>(opened)
        });
    }
    let mut accounts = Vec::new();
    while let Some(worker) = workers.join_next().await {
        accounts.extend(worker.map_err(|error| error.to_string())??);
    }
    Ok(accounts)
}

/// Sends `commands` deposits and withdrawals (half each, at random) to random accounts from
/// `concurrency` clients, and times them.
async fn run_commands(
    service: &Service,
    accounts: &[Uuid],
    random: Random,
    commands: u64,
    concurrency: u64,
) -> Run {
    let accounts: Arc<[Uuid]> = accounts.into();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (service, accounts, next) = (service.clone(), accounts.clone(), next.clone());
        let mut random = random.stream(worker);
        workers.spawn(async move {
            let mut run = Run::default();
            while next.fetch_add(1, Ordering::Relaxed) < commands {
                let account = accounts[random.below(accounts.len() as u64) as usize];
                let amount = 1 + random.below(MAX_AMOUNT) as i64;
                let answer = if random.below(2) == 0 {
                    service.deposit(account, amount).await
                } else {
                    service.withdraw(account, amount).await
                };
                run.record(answer);
            }
            run
        });
    }
    let mut run = Run::default();
    while let Some(worker) = workers.join_next().await {
        run.merge(worker.expect("a client task panicked"));
    }
    run.wall_clock = started.elapsed();
    run
}

/// Appends `count` deposits to one account from `concurrency` clients (the service queues
/// them on the account).
async fn grow(service: &Service, account: Uuid, count: u64, concurrency: u64) -> Run {
    let claimed = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (service, claimed) = (service.clone(), claimed.clone());
        workers.spawn(async move {
            let mut run = Run::default();
            while claimed.fetch_add(1, Ordering::Relaxed) < count {
                run.record(service.deposit(account, 1).await);
            }
            run
        });
    }
    let mut run = Run::default();
    while let Some(worker) = workers.join_next().await {
        run.merge(worker.expect("a client task panicked"));
    }
    run
}

/// Prints throughput (when the run was timed as a whole), latency percentiles and failures.
fn report(title: &str, run: &Run) {
    println!("{title}:");
    let answered = run.latencies.len() + run.failures.values().sum::<usize>();
    if !run.wall_clock.is_zero() {
        println!(
            "  {answered} commands in {:.2} s: {:.0} commands/s",
            run.wall_clock.as_secs_f64(),
            answered as f64 / run.wall_clock.as_secs_f64(),
        );
    }
    let percentile = |p| run.latencies.percentile(p).map_or("-".to_owned(), millis);
    println!(
        "  latency of 2xx answers (ms): p50 {}  p90 {}  p99 {}  max {}",
        percentile(50.0),
        percentile(90.0),
        percentile(99.0),
        percentile(100.0),
    );
    if run.failures.is_empty() {
        println!("  non-2xx answers: none");
    } else {
        for (status, count) in &run.failures {
            println!("  non-2xx answers: {count} x {status}");
        }
    }
}

fn failures_suffix(failures: &BTreeMap<String, usize>) -> String {
    if failures.is_empty() {
        return String::new();
    }
    let list: Vec<String> = failures
        .iter()
        .map(|(status, count)| format!("{count} x {status}"))
        .collect();
    format!("; failures: {}", list.join(", "))
}

fn millis(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

/// The latencies of the successful commands of a run, and its failures by status.
#[derive(Debug, Clone, Default)]
struct Run {
    latencies: Latencies,
    /// Non-2xx statuses (`422 Unprocessable Entity`) or transport errors (`timeout`), counted.
    failures: BTreeMap<String, usize>,
    /// Zero when the run was not timed as a whole.
    wall_clock: Duration,
}

impl Run {
    fn record(&mut self, answer: Answer) {
        match answer {
            Answer::Success(latency) => self.latencies.push(latency),
            Answer::Failure(kind) => *self.failures.entry(kind).or_default() += 1,
        }
    }

    fn merge(&mut self, other: Run) {
        self.latencies.extend(other.latencies);
        for (kind, count) in other.failures {
            *self.failures.entry(kind).or_default() += count;
        }
    }
}

/// Collected latencies; percentiles by sorting, which is exact and fast enough for a few
/// hundred thousand samples.
#[derive(Debug, Clone, Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn push(&mut self, latency: Duration) {
        self.0.push(latency);
    }

    fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`th percentile (nearest rank), `p` in `0.0..=100.0`; `None` without samples.
    fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
    }
}

/// How one command ended: its latency, or why it failed.
#[derive(Debug)]
enum Answer {
    Success(Duration),
    Failure(String),
}

/// The service under load: one keep-alive connection pool shared by every client task.
#[derive(Debug, Clone)]
struct Service {
    http: reqwest::Client,
    url: String,
    idempotency_keys: bool,
    descriptions: bool,
}

impl Service {
    fn new(options: &Options) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &options.api_key {
            let mut bearer = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| "--api-key must be printable ASCII".to_owned())?;
            bearer.set_sensitive(true);
            headers.insert(AUTHORIZATION, bearer);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| error.to_string())?;
        Ok(Service {
            http,
            url: options.url.trim_end_matches('/').to_owned(),
            idempotency_keys: options.idempotency_keys,
            descriptions: options.descriptions,
        })
    }

    /// Which database the service runs on, from `GET /health`.
    async fn database(&self) -> Result<String, String> {
        let health: Value = self
            .http
            .get(format!("{}/health", self.url))
            .send()
            .await
            .and_then(|response| response.error_for_status())
            .map_err(|error| error.to_string())?
            .json()
            .await
            .map_err(|error| error.to_string())?;
        Ok(health["database"]
            .as_str()
            .unwrap_or("an unknown database")
            .to_owned())
    }

    /// Opens an EUR account with [`OPENING_DEPOSIT`] and returns its id.
    async fn open_account(&self) -> Result<Uuid, String> {
        let body =
            json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": OPENING_DEPOSIT });
        let response = self
            .command("accounts", body)
            .send()
            .await
            .map_err(|error| format!("could not open an account: {error}"))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|error| error.to_string())?;
        answer["account_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| format!("could not open an account: {status} {answer}"))
    }

    async fn deposit(&self, account: Uuid, cents: i64) -> Answer {
        self.movement(&format!("accounts/{account}/deposits"), cents)
            .await
    }

    async fn withdraw(&self, account: Uuid, cents: i64) -> Answer {
        self.movement(&format!("accounts/{account}/withdrawals"), cents)
            .await
    }

    /// Places a hold of `cents` lasting an hour: the answer and the hold's id.
    async fn place_hold(&self, account: Uuid, cents: i64) -> (Answer, Option<Uuid>) {
        let body = json!({ "amount": cents, "currency": "EUR", "expires_in_secs": 3_600 });
        let request = self.command(&format!("accounts/{account}/holds"), body);
        let started = Instant::now();
        match request.send().await {
            Ok(response) if response.status().is_success() => match response.json::<Value>().await {
                Ok(body) => (
                    Answer::Success(started.elapsed()),
                    body["hold_id"].as_str().and_then(|id| id.parse().ok()),
                ),
                Err(error) => (Answer::Failure(transport_failure(&error)), None),
            },
            Ok(response) => (Answer::Failure(response.status().to_string()), None),
            Err(error) => (Answer::Failure(transport_failure(&error)), None),
        }
    }

    /// Captures all of a hold.
    async fn capture(&self, account: Uuid, hold: Uuid) -> Answer {
        let request = self.command(&format!("accounts/{account}/holds/{hold}/capture"), json!({}));
        self.timed(request).await
    }

    async fn movement(&self, path: &str, cents: i64) -> Answer {
        let mut body = json!({ "amount": cents, "currency": "EUR" });
        if self.descriptions {
            body["description"] = json!(format!("groceries, {cents} cents"));
        }
        let request = self.command(path, body);
        self.timed(request).await
    }

    /// Sends `request` and times it to the last byte of its answer.
    async fn timed(&self, request: reqwest::RequestBuilder) -> Answer {
        let started = Instant::now();
        match request.send().await {
            // Read the whole body: the latency is the client's, up to the last byte.
            Ok(response) => {
                let status = response.status();
                let body = response.bytes().await;
                match (status.is_success(), body) {
                    (true, Ok(_)) => Answer::Success(started.elapsed()),
                    (false, _) => Answer::Failure(status.to_string()),
                    (true, Err(error)) => Answer::Failure(transport_failure(&error)),
                }
            }
            Err(error) => Answer::Failure(transport_failure(&error)),
        }
    }

    fn command(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        let request = self.http.post(format!("{}/{path}", self.url)).json(&body);
        if self.idempotency_keys {
            request.header("Idempotency-Key", Uuid::now_v7().to_string())
        } else {
            request
        }
    }
}

fn transport_failure(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else if error.is_connect() {
        "connection refused or reset".to_owned()
    } else {
        "transport error".to_owned()
    }
}

/// SplitMix64: a few lines of seeded randomness, so the load tool needs no `rand` dependency
/// and a seed replays the same commands. Not for anything but spreading load.
#[derive(Debug, Clone, Copy)]
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        Random(seed)
    }

    /// An independent stream for one client task.
    fn stream(self, index: u64) -> Self {
        let mut base = Random(self.0 ^ index.wrapping_mul(0xa076_1d64_78bd_642f));
        Random(base.next())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0; the modulo bias is negligible for small bounds).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}
