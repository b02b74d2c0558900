//! One leader per follower across processes, observed: two real `foldbank` processes share one
//! database (on SQLite as on PostgreSQL) under load, the first stops halfway and the second
//! takes over. Each records every batch it handles (`batch handled`, with its follower, its
//! positions, when it started and finished, and whether it was applied); no batch of a
//! follower handled by one process may overlap in time one handled by the other, and the
//! applied ones together cover the log once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Server, TestDb, backend_tests, free_port, get_json};

backend_tests!(one_process_at_a_time_applies_each_followers_batches);

/// One batch a process handled, as its log tells it.
#[derive(Debug, Clone, Copy)]
struct Handled {
    from: i64,
    to: i64,
    started: i64,
    finished: i64,
    applied: bool,
}

/// The batches each follower handled, from one process's log.
fn batches(log: &std::path::Path) -> BTreeMap<String, Vec<Handled>> {
    let text = std::fs::read_to_string(log).expect("read the log");
    let mut batches: BTreeMap<String, Vec<Handled>> = BTreeMap::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if entry["message"] != "batch handled" {
            continue;
        }
        let number = |field: &str| {
            entry[field]
                .as_i64()
                .unwrap_or_else(|| panic!("{field} in {line}"))
        };
        batches
            .entry(entry["follower"].as_str().expect("follower").to_owned())
            .or_default()
            .push(Handled {
                from: number("from"),
                to: number("to"),
                started: number("started_us"),
                finished: number("finished_us"),
                applied: entry["applied"] == true,
            });
    }
    batches
}

/// Sends `deposits` deposits of 1 to `accounts` through `server`, from four clients at once.
async fn load(server: &Server, accounts: &[Uuid], deposits: usize) {
    let client = reqwest::Client::new();
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let (client, base, accounts) = (client.clone(), server.url(""), accounts.to_vec());
            tokio::spawn(async move {
                for i in 0..deposits / 4 {
                    let account = accounts[(n + i) % accounts.len()];
                    let deposited = client
                        .post(format!("{base}/accounts/{account}/deposits"))
                        .json(&json!({ "amount": 1, "currency": "EUR" }))
                        .send()
                        .await
                        .expect("request");
                    assert_eq!(deposited.status(), reqwest::StatusCode::CREATED);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client");
    }
}

async fn one_process_at_a_time_applies_each_followers_batches(db: TestDb) {
    let dir = tempfile::tempdir().expect("a directory for the logs");
    let logs = [dir.path().join("first.log"), dir.path().join("second.log")];
    let filter = "warn,foldbank::follow=debug";
    let first = Server::start_logging(&db, free_port(), filter, &logs[0]).await;
    let second = Server::start_logging(&db, free_port(), filter, &logs[1]).await;
    let client = reqwest::Client::new();
    let mut accounts = Vec::new();
    for _ in 0..8 {
        let opened: Value = client
            .post(first.url("/accounts"))
            .json(&json!({ "owner_id": Uuid::now_v7(), "currency": "EUR" }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        accounts.push(
            opened["account_id"]
                .as_str()
                .expect("id")
                .parse::<Uuid>()
                .expect("uuid"),
        );
    }

    // Both serve commands; the first to start leads every follower.
    tokio::join!(load(&first, &accounts, 200), load(&second, &accounts, 200));
    assert!(first.terminate().await, "the first process stops gracefully");
    // The second takes over (at once: the first gave its leadership up as it stopped).
    load(&second, &accounts, 200).await;
    let head = wait_until_caught_up(&second).await;
    assert!(second.terminate().await);

    // Each leader gave its leadership up as it stopped (on SQLite: no lease row is left).
    for database in [&db.database, &db.read] {
        let leases: i64 = foldbank::db::query("SELECT COUNT(*) FROM leases WHERE name LIKE 'lead:%'")
            .fetch_scalar(database)
            .await
            .expect("count leases");
        assert_eq!(leases, 0, "leaderships released");
    }

    let [first, second] = logs.map(|log| batches(&log));
    let mut handed_over = 0;
    for follower in foldbank::app::follower_names() {
        let mine = first.get(follower).cloned().unwrap_or_default();
        let theirs = second.get(follower).cloned().unwrap_or_default();
        if !mine.is_empty() && !theirs.is_empty() {
            handed_over += 1;
        }
        for a in &mine {
            for b in &theirs {
                assert!(
                    a.finished < b.started || b.finished < a.started,
                    "{follower}: batches {a:?} (first) and {b:?} (second) overlap in time"
                );
            }
        }
        // The applied ones together cover the log once, in order.
        let mut all: Vec<Handled> = mine
            .into_iter()
            .chain(theirs)
            .filter(|batch| batch.applied)
            .collect();
        all.sort_by_key(|batch| batch.from);
        for pair in all.windows(2) {
            assert_eq!(pair[0].to, pair[1].from, "{follower}: {pair:?}");
        }
        assert_eq!(all.first().map(|batch| batch.from), Some(0), "{follower}");
        assert_eq!(all.last().map(|batch| batch.to), Some(head), "{follower}");
    }
    assert!(handed_over > 0, "the second process took over from the first");
}

/// Waits until every follower of `server` has reached the head of the log; answers the head.
pub(crate) async fn wait_until_caught_up(server: &Server) -> i64 {
    let client = reqwest::Client::new();
    // Not a measure of speed: followers that never catch up are the failure.
    for _ in 0..600 {
        let status = get_json(&client, &server.url("/projections")).await;
        let head = status["head"].as_i64().expect("head");
        let caught_up = status["projections"]
            .as_array()
            .is_some_and(|all| all.iter().all(|follower| follower["checkpoint"] == head));
        if caught_up {
            return head;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the followers did not catch up");
}
