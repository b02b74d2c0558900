//! Money is conserved: a bank workload in the style of Jepsen's, under concurrency and under
//! crashes (SIGKILL of the real binary).
//!
//! Ten accounts hold 1,000 each. Clients move random amounts between random accounts (now and
//! then to an account that does not exist, which the process manager must refund) while
//! others read the ledger summary. Every read must see `total + in_flight == 10,000`: money is
//! only ever in an account or between two of them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use foldbank::domain::account::AccountEvent;
use foldbank::domain::transfer::{Outcome as Settled, TransferEvent};
use foldbank::store::{EventStore, codec, event_store};
use proptest::prelude::RngCore;
use proptest::test_runner::{RngAlgorithm, TestRng};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Server, TestApp, TestDb, backend_tests, free_port};
use crate::read_models::assert_read_models_match_the_log;

backend_tests!(
    concurrent_transfers_conserve_money_at_every_read,
    transfers_survive_the_server_being_killed,
    two_instances_share_the_work_and_one_takes_over_when_the_other_is_killed,
);

const ACCOUNTS: usize = 10;
const OPENING_BALANCE: i64 = 1_000;
const TOTAL: i64 = ACCOUNTS as i64 * OPENING_BALANCE;

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0_u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

fn pick(rng: &mut TestRng, below: u64) -> u64 {
    rng.next_u64() % below
}

/// A random transfer request: mostly between two of `accounts`, sometimes to nowhere.
fn random_transfer(rng: &mut TestRng, accounts: &[Uuid]) -> Value {
    let from = accounts[pick(rng, accounts.len() as u64) as usize];
    let to = if pick(rng, 20) == 0 {
        Uuid::now_v7()
    } else {
        loop {
            let to = accounts[pick(rng, accounts.len() as u64) as usize];
            if to != from {
                break to;
            }
        }
    };
    json!({
        "transfer_id": Uuid::now_v7(),
        "from_account": from,
        "to_account": to,
        "amount": 1 + pick(rng, 50),
        "currency": "EUR",
    })
}

#[track_caller]
fn assert_conserved(summary: &Value) {
    let eur = &summary["currencies"][0];
    let (total, in_flight) = (eur["total"].as_i64(), eur["in_flight"].as_i64());
    assert_eq!(eur["currency"], "EUR", "{summary}");
    assert_eq!(
        total.zip(in_flight).map(|(t, f)| t + f),
        Some(TOTAL),
        "total + in_flight must always be {TOTAL}: {summary}"
    );
}

async fn concurrent_transfers_conserve_money_at_every_read(db: TestDb) {
    const CLIENTS: u64 = 16;
    const TRANSFERS: u64 = 2_000;
    let app = Arc::new(TestApp::new(db).await);
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        accounts.push(app.open_account_with(OPENING_BALANCE).await);
    }
    app.caught_up().await;
    let accounts = Arc::new(accounts);

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (app, accounts) = (app.clone(), accounts.clone());
            tokio::spawn(async move {
                let mut rng = rng(client);
                let mut accepted = Vec::new();
                for step in 0..TRANSFERS / CLIENTS {
                    let response = app.post("/transfers", random_transfer(&mut rng, &accounts)).await;
                    match response.status {
                        StatusCode::ACCEPTED => accepted.push(response.body["transfer_id"].clone()),
                        StatusCode::UNPROCESSABLE_ENTITY => {
                            response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "insufficient-funds")
                        }
                        status => panic!("unexpected {status}: {}", response.text),
                    }
                    if step % 5 == 0 {
                        assert_conserved(&app.get("/ledger/summary").await.body);
                    }
                    if step % 25 == 0 {
                        let page = app.get("/accounts?limit=500").await;
                        for account in page.body["items"].as_array().into_iter().flatten() {
                            assert!(
                                account["balance"].as_i64() >= Some(0),
                                "below the floor: {account}"
                            );
                        }
                    }
                }
                accepted
            })
        })
        .collect();
    let mut accepted = Vec::new();
    for client in clients {
        accepted.extend(client.await.expect("client"));
    }
    app.settled().await;

    let summary = app.get("/ledger/summary").await.body;
    assert_conserved(&summary);
    assert_eq!(summary["currencies"][0]["in_flight"], 0, "{summary}");
    // Sources run dry while credits are in flight, so some debits are refused; enough must pass
    // for the run to mean something.
    assert!(accepted.len() > 200, "transfers went through: {}", accepted.len());
    for transfer_id in &accepted {
        let id = transfer_id.as_str().unwrap_or_default();
        let status = app.get(&format!("/transfers/{id}")).await.body;
        assert!(
            matches!(status["status"].as_str(), Some("completed" | "failed")),
            "{status}"
        );
    }
    for account in accounts.iter() {
        assert_read_models_match_the_log(&app, *account).await;
    }
    assert_each_transfer_settled_exactly_once(&event_store(&app.db.database), &[]).await;
}

/// Reads the whole log and checks every transfer: debited at most once, and a debited transfer
/// credited or refunded exactly once (never both). `acknowledged` transfers must be debited.
async fn assert_each_transfer_settled_exactly_once(store: &Arc<dyn EventStore>, acknowledged: &[Uuid]) {
    #[derive(Default, Debug)]
    struct Seen {
        debited: u32,
        credited: u32,
        refunded: u32,
        /// `TransferSettled` on the transfer's own stream, and whether it says credited.
        recorded: u32,
        recorded_credit: bool,
    }
    let mut seen: HashMap<Uuid, Seen> = HashMap::new();
    let mut after = 0;
    loop {
        let batch = store.read_all(after, 1_000).await.expect("read the log");
        let Some(last) = batch.last() else { break };
        after = last.global_position;
        for recorded in &batch {
            if recorded.stream_type == foldbank::domain::transfer::STREAM_TYPE {
                // The transfer's own record: settled once, the way the accounts say.
                if let TransferEvent::TransferSettled {
                    transfer_id, outcome, ..
                } = codec::decode::<TransferEvent>(recorded).expect("decodable")
                {
                    let seen = seen.entry(transfer_id.0).or_default();
                    seen.recorded += 1;
                    seen.recorded_credit |= outcome == Settled::Credited;
                }
                continue;
            }
            match codec::decode::<AccountEvent>(recorded).expect("decodable") {
                AccountEvent::TransferDebited { transfer_id, .. } => {
                    seen.entry(transfer_id.0).or_default().debited += 1
                }
                AccountEvent::TransferCredited { transfer_id, .. } => {
                    seen.entry(transfer_id.0).or_default().credited += 1
                }
                AccountEvent::TransferRefunded { transfer_id, .. } => {
                    seen.entry(transfer_id.0).or_default().refunded += 1
                }
                _ => {}
            }
        }
    }
    for (transfer_id, seen) in &seen {
        assert_eq!(seen.debited, 1, "transfer {transfer_id}: {seen:?}");
        assert_eq!(
            seen.credited + seen.refunded,
            1,
            "transfer {transfer_id} settled once: {seen:?}"
        );
        assert_eq!(
            seen.recorded, 1,
            "transfer {transfer_id} recorded its outcome once: {seen:?}"
        );
        assert_eq!(
            seen.recorded_credit,
            seen.credited == 1,
            "transfer {transfer_id}: the recorded outcome is the one that happened: {seen:?}"
        );
    }
    for transfer_id in acknowledged {
        assert!(
            seen.contains_key(transfer_id),
            "acknowledged transfer {transfer_id} was lost"
        );
    }
}

/// What a client learned about a transfer it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// 202: the transfer must complete or fail, never vanish.
    Acknowledged,
    /// 422: refused, nothing happened.
    Refused,
    /// No answer (the server died): it may or may not have been debited.
    Unknown,
}

async fn transfers_survive_the_server_being_killed(db: TestDb) {
    const CLIENTS: u64 = 8;
    let port = free_port();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut server = Server::start(&db, port).await;
    let accounts = open_accounts(&client, &server).await;
    let accounts: Arc<Vec<Uuid>> = Arc::new(accounts);
    let mut outcomes: BTreeMap<Uuid, Outcome> = BTreeMap::new();
    let mut kill_rng = rng(99);

    for round in 0..3_u64 {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|n| {
                let (client, accounts, base) = (client.clone(), accounts.clone(), server.url(""));
                tokio::spawn(async move {
                    let mut rng = rng(round * 100 + n);
                    let mut outcomes = Vec::new();
                    // Until the first request without an answer: the server is gone.
                    loop {
                        let request = random_transfer(&mut rng, &accounts);
                        let id: Uuid = request["transfer_id"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .expect("id");
                        let outcome = match client
                            .post(format!("{base}/transfers"))
                            .json(&request)
                            .send()
                            .await
                        {
                            Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
                                Outcome::Acknowledged
                            }
                            Ok(response)
                                if response.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY =>
                            {
                                Outcome::Refused
                            }
                            Ok(response) => panic!("unexpected status {}", response.status()),
                            Err(_) => Outcome::Unknown,
                        };
                        outcomes.push((id, outcome));
                        if outcome == Outcome::Unknown {
                            return outcomes;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200 + pick(&mut kill_rng, 800))).await;
        server.kill();
        let mut acknowledged = 0;
        for client in clients {
            let answers = client.await.expect("client");
            acknowledged += answers
                .iter()
                .filter(|(_, outcome)| *outcome == Outcome::Acknowledged)
                .count();
            // Each client stops at its first request the kill cut off.
            assert_eq!(
                answers.last().map(|(_, outcome)| *outcome),
                Some(Outcome::Unknown)
            );
            outcomes.extend(answers);
        }
        assert!(
            acknowledged > 0,
            "round {round}: the load was running when the server was killed"
        );
        server = Server::start(&db, port).await;
        let summary: Value = client
            .get(server.url("/ledger/summary?min_position=0"))
            .send()
            .await
            .expect("summary")
            .json()
            .await
            .expect("json");
        assert_conserved(&summary);
    }

    // Quiescence: the restarted process manager settles whatever was left in flight.
    let mut summary = Value::Null;
    for _ in 0..600 {
        summary = client
            .get(server.url("/ledger/summary"))
            .send()
            .await
            .expect("summary")
            .json()
            .await
            .expect("json");
        let status: Value = client
            .get(server.url("/projections"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        let caught_up = status["projections"]
            .as_array()
            .is_some_and(|all| all.iter().all(|p| p["lag_events"] == 0));
        if caught_up && summary["currencies"][0]["in_flight"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_conserved(&summary);
    assert_eq!(summary["currencies"][0]["in_flight"], 0, "{summary}");

    let acknowledged: Vec<Uuid> = outcomes
        .iter()
        .filter(|(_, outcome)| **outcome == Outcome::Acknowledged)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        acknowledged.len() > 10,
        "the clients got transfers through: {}",
        acknowledged.len()
    );
    for id in &acknowledged {
        let status: Value = client
            .get(server.url(&format!("/transfers/{id}")))
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert!(
            matches!(status["status"].as_str(), Some("completed" | "failed")),
            "{status}"
        );
    }
    server.kill();

    let databases = db.reconnect().await;
    assert_each_transfer_settled_exactly_once(&event_store(&databases.write), &acknowledged).await;
    let debited: std::collections::HashSet<Uuid> = event_store(&databases.write)
        .read_all(0, i64::MAX)
        .await
        .expect("log")
        .iter()
        .filter(|recorded| recorded.stream_type == foldbank::domain::account::STREAM_TYPE)
        .filter_map(|recorded| match codec::decode::<AccountEvent>(recorded) {
            Ok(AccountEvent::TransferDebited { transfer_id, .. }) => Some(transfer_id.0),
            _ => None,
        })
        .collect();
    for (id, outcome) in &outcomes {
        if *outcome == Outcome::Refused {
            assert!(!debited.contains(id), "refused transfer {id} was debited");
        }
    }
    // The read models of a fresh process equal the fold of the log.
    let app = TestApp::new(TestDb::attach(databases)).await;
    app.settled().await;
    for account in accounts.iter() {
        assert_read_models_match_the_log(&app, *account).await;
    }
}

/// The leaderships granted in this database (PostgreSQL advisory locks held by sessions), as
/// `(classid, objid)`: the two halves of each 64-bit key.
async fn leaderships_held(db: &TestDb) -> std::collections::BTreeSet<(i64, i64)> {
    #[derive(sqlx::FromRow)]
    struct Held {
        classid: i64,
        objid: i64,
    }
    let mut leaderships = std::collections::BTreeSet::new();
    // Split: the projections lead in the read database, the transfer manager beside the log.
    for database in db.databases().each() {
        let held: Vec<Held> = foldbank::db::query(
            "SELECT CAST(classid AS BIGINT) AS classid, CAST(objid AS BIGINT) AS objid FROM pg_locks \
             WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_all(database)
        .await
        .expect("pg_locks");
        leaderships.extend(held.into_iter().map(|lock| (lock.classid, lock.objid)));
    }
    leaderships
}

/// The `(classid, objid)` of every follower's leadership key, and of the hold expiry scheduler's.
fn follower_leaderships() -> std::collections::BTreeSet<(i64, i64)> {
    foldbank::app::follower_names()
        .into_iter()
        .chain([
            foldbank::process::expiry::NAME,
            foldbank::integration::outbox::NAME,
            foldbank::integration::delivery::NAME,
        ])
        .map(|name| {
            let key = u64::from_ne_bytes(foldbank::follow::leadership_key(name).to_ne_bytes());
            (
                i64::try_from(key >> 32).unwrap_or(0),
                i64::try_from(key & 0xffff_ffff).unwrap_or(0),
            )
        })
        .collect()
}

/// Two service processes on one database, behind no balancer: clients spread their transfers
/// over both. On PostgreSQL each follower (every projection, the transfer manager, the webhook
/// outbox) runs in exactly one of them, as do the hold expiry scheduler and the webhook sender; when the leading process is
/// SIGKILLed mid-load, the other takes every follower over within 5 s. On either database money
/// is conserved, every acknowledged transfer is settled exactly once, and the read models equal
/// the fold of the log.
async fn two_instances_share_the_work_and_one_takes_over_when_the_other_is_killed(db: TestDb) {
    const CLIENTS: u64 = 8;
    let postgres = db.database.backend() == foldbank::db::Backend::Postgres;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let first = Server::start(&db, free_port()).await;
    let second = Server::start(&db, free_port()).await;
    let accounts = open_accounts(&client, &first).await;
    if postgres {
        assert_eq!(
            leaderships_held(&db).await,
            follower_leaderships(),
            "every follower has exactly one leader"
        );
    }

    let accounts: Arc<Vec<Uuid>> = Arc::new(accounts);
    let bases = [first.url(""), second.url("")];
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (client, accounts) = (client.clone(), accounts.clone());
            let base = bases[usize::try_from(n % 2).unwrap_or(0)].clone();
            tokio::spawn(async move {
                let mut rng = rng(500 + n);
                let mut outcomes = Vec::new();
                for _ in 0..60 {
                    let request = random_transfer(&mut rng, &accounts);
                    let id: Uuid = request["transfer_id"]
                        .as_str()
                        .and_then(|s| s.parse().ok())
                        .expect("id");
                    let outcome = match client
                        .post(format!("{base}/transfers"))
                        .json(&request)
                        .send()
                        .await
                    {
                        Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
                            Outcome::Acknowledged
                        }
                        Ok(response) if response.status() == reqwest::StatusCode::UNPROCESSABLE_ENTITY => {
                            Outcome::Refused
                        }
                        Ok(response) => panic!("unexpected status {}", response.status()),
                        Err(_) => Outcome::Unknown,
                    };
                    outcomes.push((id, outcome));
                    if outcome == Outcome::Unknown {
                        break;
                    }
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The first process started first and leads every follower: kill it mid-load.
    first.kill();
    let killed_at = std::time::Instant::now();
    if postgres {
        while leaderships_held(&db).await != follower_leaderships() {
            assert!(
                killed_at.elapsed() < Duration::from_secs(5),
                "the survivor took over within 5 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut outcomes: BTreeMap<Uuid, Outcome> = BTreeMap::new();
    for client in clients {
        outcomes.extend(client.await.expect("client"));
    }

    // The survivor settles everything and its read models catch up.
    let mut summary = Value::Null;
    for _ in 0..600 {
        summary = client
            .get(second.url("/ledger/summary"))
            .send()
            .await
            .expect("summary")
            .json()
            .await
            .expect("json");
        let status: Value = client
            .get(second.url("/projections"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        let caught_up = status["projections"]
            .as_array()
            .is_some_and(|all| all.iter().all(|p| p["lag_events"] == 0));
        if caught_up && summary["currencies"][0]["in_flight"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_conserved(&summary);
    assert_eq!(summary["currencies"][0]["in_flight"], 0, "{summary}");
    second.kill();

    let acknowledged: Vec<Uuid> = outcomes
        .iter()
        .filter(|(_, outcome)| **outcome == Outcome::Acknowledged)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        acknowledged.len() > 10,
        "transfers went through: {}",
        acknowledged.len()
    );
    let databases = db.reconnect().await;
    assert_each_transfer_settled_exactly_once(&event_store(&databases.write), &acknowledged).await;
    let app = TestApp::new(TestDb::attach(databases)).await;
    app.settled().await;
    for account in accounts.iter() {
        assert_read_models_match_the_log(&app, *account).await;
    }
}

/// Opens [`ACCOUNTS`] accounts of [`OPENING_BALANCE`] EUR each through `server`'s API.
async fn open_accounts(client: &reqwest::Client, server: &Server) -> Vec<Uuid> {
    let mut accounts = Vec::new();
    for _ in 0..ACCOUNTS {
        let opened: Value = client
            .post(server.url("/accounts"))
            .json(
                &json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": OPENING_BALANCE }),
            )
            .send()
            .await
            .expect("open")
            .json()
            .await
            .expect("json");
        accounts.push(
            opened["account_id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("id"),
        );
    }
    accounts
}
