//! Operating the read models: `foldbank verify` compares them with the fold of the log, and
//! `foldbank rebuild` replaces them with a fresh fold while queries keep being answered.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use foldbank::clock::Clock;
use foldbank::domain::account::AccountEvent;
use foldbank::domain::ids::TransactionId;
use foldbank::domain::money::Amount;
use foldbank::projection::{self, Difference, Progress, Verification};
use foldbank::store::{Append, NewEvent, codec};
use serde_json::json;
use strum::VariantArray;
use uuid::Uuid;

use crate::common::{Server, TestApp, TestDb, backend_tests, free_port, run_foldbank};
use crate::leadership::wait_until_caught_up;
use crate::read_models::{account_terms, play, samples, step};

backend_tests!(
    verify_finds_the_read_models_equal_to_the_log_then_names_a_corrupted_row,
    foldbank_verify_exits_non_zero_and_reports_the_differing_rows,
    queries_keep_being_answered_while_a_rebuild_replays_50000_events,
    a_second_rebuild_of_a_read_model_exits_and_leaves_the_first_alone,
    an_expired_lease_is_taken_over_and_its_old_holder_can_no_longer_confirm_it,
    verify_compares_a_log_of_many_chunks_and_names_a_missing_an_extra_and_a_changed_movement,
    a_rebuild_of_a_log_of_several_pages_swaps_in_only_the_rows_that_differ,
    a_read_model_added_to_a_populated_database_catches_up_in_bulk_then_follows_live,
    a_rebuilds_swap_compares_every_column_of_every_read_model,
    a_rebuild_holding_fewer_rows_than_its_read_models_writes_them_back_and_reads_them_again,
    a_first_fill_of_a_table_someone_is_reading_does_not_wait_for_them,
);

/// What `foldbank verify` finds, called as the subcommand calls it.
async fn verified(app: &TestApp) -> Verification {
    projection::verify(&app.db.read, &app.service.store, Progress::hidden())
        .await
        .expect("verify runs")
}

/// A history with every kind of read-model row: random account steps, a completed transfer and
/// a refunded one, and on an account of its own a captured hold and an open one.
async fn some_history(app: &TestApp) -> Vec<Uuid> {
    let steps = samples(proptest::collection::vec(step(), 40), 1).remove(0);
    let accounts = play(app, &steps, &account_terms()).await;
    for to in [accounts[1], Uuid::now_v7()] {
        let transfer = app
            .post(
                "/transfers",
                json!({ "from_account": accounts[2], "to_account": to, "amount": 1, "currency": "EUR" }),
            )
            .await;
        assert_eq!(transfer.status, StatusCode::ACCEPTED, "{}", transfer.text);
    }
    let holding = app.open_account(json!({ "initial_deposit": 1_000 })).await;
    for amount in [300, 200] {
        let placed = app
            .post(
                &format!("/accounts/{holding}/holds"),
                json!({ "amount": amount, "currency": "EUR", "expires_in_secs": 3_600 }),
            )
            .await;
        assert_eq!(placed.status, StatusCode::CREATED, "{}", placed.text);
        if amount == 300 {
            let hold = placed.body["hold_id"].as_str().expect("hold_id");
            let captured = app
                .post(
                    &format!("/accounts/{holding}/holds/{hold}/capture"),
                    json!({ "amount": 120 }),
                )
                .await;
            assert_eq!(captured.status, StatusCode::CREATED, "{}", captured.text);
        }
    }
    app.settled().await;
    accounts
}

async fn corrupt(app: &TestApp, statement: &'static str, id: Uuid) {
    let changed = foldbank::db::query(statement)
        .bind(id)
        .execute(&app.db.read)
        .await
        .expect("corrupt a read model");
    assert_eq!(changed, 1, "{statement}");
}

async fn verify_finds_the_read_models_equal_to_the_log_then_names_a_corrupted_row(db: TestDb) {
    let app = TestApp::new(db).await;
    let accounts = some_history(&app).await;
    let head = app.service.store.head_position().await.expect("head");

    let equal = verified(&app).await;
    assert!(equal.is_consistent(), "{equal}");
    let tables: Vec<_> = equal
        .tables
        .iter()
        .map(|table| (table.table, table.position))
        .collect();
    assert_eq!(
        tables,
        [
            ("account_balances", head),
            ("account_transactions", head),
            ("transfers", head),
            ("ledger_totals", head),
            ("account_holds", head),
        ]
    );
    assert!(equal.tables.iter().all(|table| table.rows > 0), "{equal}");

    corrupt(
        &app,
        "UPDATE account_balances SET balance = balance + 7 WHERE account_id = $1",
        accounts[1],
    )
    .await;
    let corrupted = verified(&app).await;
    assert!(!corrupted.is_consistent(), "{corrupted}");
    let balances = &corrupted.tables[0];
    let [Difference::Different { key, columns }] = balances.differences.as_slice() else {
        panic!("one differing row in account_balances: {corrupted}");
    };
    assert_eq!(key, &accounts[1].to_string());
    let [("balance", stored, expected)] = columns.as_slice() else {
        panic!("only the stored balance differs: {corrupted}");
    };
    assert_eq!(
        stored.to_string().parse::<i64>().ok(),
        expected
            .to_string()
            .parse::<i64>()
            .ok()
            .map(|balance| balance + 7)
    );
    assert!(
        corrupted.tables[1..]
            .iter()
            .all(|table| table.differences.is_empty()),
        "{corrupted}"
    );
    let report = corrupted.to_string();
    assert!(
        report.contains(&format!("account_balances {}: stored balance=", accounts[1])),
        "{report}"
    );
    assert!(report.contains("account_balances: 4 rows, 1 differ"), "{report}");
}

/// The real binary: exit 0 and a summary per table when equal; exit 1 and the differing rows
/// (first few per table) when not. The report is on stdout, progress lines on stderr.
async fn foldbank_verify_exits_non_zero_and_reports_the_differing_rows(db: TestDb) {
    let app = TestApp::new(db).await;
    let accounts = some_history(&app).await;
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_foldbank"))
            .args(["verify", "--log", "info"])
            .args(app.db.cli_args())
            .output()
            .expect("run foldbank verify")
    };

    let equal = verify();
    let stdout = String::from_utf8_lossy(&equal.stdout);
    assert_eq!(equal.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("account_balances: 4 rows, equal to the log"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every read model equals the fold of the log"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&equal.stderr).contains("replaying the log"),
        "a plain progress line when stderr is not a terminal"
    );

    corrupt(
        &app,
        "DELETE FROM transfers WHERE transfer_id IN (SELECT transfer_id FROM transfers \
         WHERE from_account = $1 ORDER BY debit_position LIMIT 1)",
        accounts[2],
    )
    .await;
    let movement: Uuid = foldbank::db::query(
        "SELECT transaction_id FROM account_transactions WHERE account_id = $1 \
         ORDER BY global_position LIMIT 1",
    )
    .bind(accounts[0])
    .fetch_one::<(foldbank::db::Stored<Uuid>,)>(&app.db.read)
    .await
    .expect("a movement")
    .0
    .0;
    corrupt(
        &app,
        "UPDATE account_transactions SET description = 'edited' WHERE transaction_id = $1",
        movement,
    )
    .await;

    let differing = verify();
    let stdout = String::from_utf8_lossy(&differing.stdout);
    assert_eq!(differing.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "account_transactions {movement}: stored description=\"edited\"; expected description="
        )),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("transfers ") && line.contains(": stored no row; expected")),
        "{stdout}"
    );
    assert!(stdout.contains("(1 missing, 0 extra, 0 different)"), "{stdout}");
    assert!(stdout.contains("(0 missing, 0 extra, 1 different)"), "{stdout}");
    assert!(
        stdout.contains("2 of 5 read models differ from the fold of the log"),
        "{stdout}"
    );
}

/// Deposits of 1 appended straight to the log, `per_append` at a time, round robin over
/// `accounts` (each at the version in `versions`): as fast as the store takes them.
pub(crate) async fn append_deposits(
    app: &TestApp,
    accounts: &[Uuid],
    versions: &mut HashMap<Uuid, i64>,
    count: usize,
    per_append: usize,
) {
    let amount = Amount::new(1).expect("an amount");
    for (n, account) in accounts.iter().cycle().take(count / per_append).enumerate() {
        let events = (0..per_append)
            .map(|_| {
                let deposit = AccountEvent::MoneyDeposited {
                    transaction_id: TransactionId(Uuid::now_v7()),
                    amount,
                    currency: "EUR".parse().expect("EUR"),
                    description: None,
                    occurred_at: app.clock.now(),
                };
                let (event_type, payload) = codec::encode(&deposit).expect("encode");
                NewEvent {
                    event_id: Uuid::now_v7(),
                    schema_version: codec::current_schema_version(&event_type),
                    event_type,
                    payload,
                    metadata: json!({ "append": n }),
                    occurred_at: app.clock.now(),
                }
            })
            .collect();
        let version = versions.entry(*account).or_insert(1);
        app.service
            .store
            .append(Append::new("account", *account, *version, events))
            .await
            .expect("append");
        *version += i64::try_from(per_append).expect("small");
    }
}

/// What the queries saw while the rebuild ran.
#[derive(Debug, Default)]
struct Seen {
    reads: usize,
    /// Failures, balances going backwards, positions going backwards.
    problems: Vec<String>,
}

/// Reads accounts and `/projections` until `stop`: every answer must be a 200 with the
/// account in it, and neither a balance nor a position may ever go back.
async fn read_until(app: Arc<TestApp>, accounts: Vec<Uuid>, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let mut balances: HashMap<Uuid, i64> = HashMap::new();
    let mut position = 0_i64;
    let mut checkpoints: HashMap<String, i64> = HashMap::new();
    for account in accounts.iter().cycle() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        seen.reads += 1;
        let read = app.get(&format!("/accounts/{account}")).await;
        if read.status != StatusCode::OK {
            seen.problems
                .push(format!("GET /accounts/{account}: {} {}", read.status, read.text));
            continue;
        }
        let balance = read.body["balance"].as_i64().unwrap_or(i64::MIN);
        let before = balances.insert(*account, balance).unwrap_or(i64::MIN);
        if balance < before {
            seen.problems
                .push(format!("{account}: balance {before} then {balance}"));
        }
        let reported = read
            .header("x-projection-position")
            .and_then(|position| position.parse().ok())
            .unwrap_or(i64::MIN);
        if reported < position {
            seen.problems
                .push(format!("X-Projection-Position {position} then {reported}"));
        }
        position = position.max(reported);

        let status = app.get("/projections").await;
        if status.status != StatusCode::OK {
            seen.problems
                .push(format!("GET /projections: {} {}", status.status, status.text));
            continue;
        }
        for projection in status.body["projections"].as_array().into_iter().flatten() {
            let name = projection["name"].as_str().unwrap_or_default().to_owned();
            let checkpoint = projection["checkpoint"].as_i64().unwrap_or(i64::MIN);
            let before = checkpoints.insert(name.clone(), checkpoint).unwrap_or(i64::MIN);
            if checkpoint < before {
                seen.problems
                    .push(format!("{name}: checkpoint {before} then {checkpoint}"));
            }
        }
    }
    seen
}

/// Deposits over HTTP until `stop`, so that events arrive while the rebuild replays and swaps.
async fn deposit_until(app: Arc<TestApp>, accounts: Vec<Uuid>, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut problems = Vec::new();
    for account in accounts.iter().cycle() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let deposit = app
            .post(
                &format!("/accounts/{account}/deposits"),
                json!({ "amount": 5, "currency": "EUR" }),
            )
            .await;
        if deposit.status != StatusCode::CREATED {
            problems.push(format!("deposit: {} {}", deposit.status, deposit.text));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    problems
}

/// A log of 12,000 movements (verify compares a chunk of rows at a time, and reads the log in
/// pages, so several of each), then three corruptions of `account_transactions`: a movement
/// deleted, one added that no event made, and one changed. Verify names exactly those three.
async fn verify_compares_a_log_of_many_chunks_and_names_a_missing_an_extra_and_a_changed_movement(
    db: TestDb,
) {
    const EVENTS: usize = 12_000;
    let app = TestApp::new(db).await;
    let accounts = vec![
        app.open_account(json!({})).await,
        app.open_account(json!({})).await,
    ];
    append_deposits(&app, &accounts, &mut HashMap::new(), EVENTS, 1_000).await;
    app.caught_up().await;
    let equal = verified(&app).await;
    assert!(equal.is_consistent(), "{equal}");
    let movements = equal.tables[1].rows;
    assert!(movements >= EVENTS, "{equal}");

    let ids: Vec<Uuid> = foldbank::db::query(
        "SELECT transaction_id FROM account_transactions ORDER BY global_position LIMIT 2 OFFSET 7000",
    )
    .fetch_all::<(foldbank::db::Stored<Uuid>,)>(&app.db.read)
    .await
    .expect("two movements")
    .into_iter()
    .map(|(id,)| id.0)
    .collect();
    corrupt(
        &app,
        "DELETE FROM account_transactions WHERE transaction_id = $1",
        ids[0],
    )
    .await;
    corrupt(
        &app,
        "UPDATE account_transactions SET amount = amount + 1 WHERE transaction_id = $1",
        ids[1],
    )
    .await;
    let extra = Uuid::now_v7();
    let copied = foldbank::db::query(
        "INSERT INTO account_transactions (transaction_id, account_id, kind, amount, balance_after, currency, \
         description, occurred_at, stream_version, global_position) SELECT $1, account_id, kind, amount, \
         balance_after, currency, description, occurred_at, stream_version, global_position + 1000000 \
         FROM account_transactions WHERE transaction_id = $2",
    )
    .bind(extra)
    .bind(ids[1])
    .execute(&app.db.read)
    .await
    .expect("an extra movement");
    assert_eq!(copied, 1);

    let corrupted = verified(&app).await;
    let transactions = &corrupted.tables[1];
    assert_eq!(transactions.rows, movements, "{corrupted}");
    let mut found: Vec<(String, &str)> = transactions
        .differences
        .iter()
        .map(|difference| {
            let kind = match difference {
                Difference::Missing { .. } => "missing",
                Difference::Extra { .. } => "extra",
                Difference::Different { .. } => "different",
            };
            (difference.key().to_owned(), kind)
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (ids[0].to_string(), "missing"),
        (ids[1].to_string(), "different"),
        (extra.to_string(), "extra"),
    ];
    expected.sort();
    assert_eq!(found, expected, "{corrupted}");
    assert!(
        corrupted
            .tables
            .iter()
            .filter(|table| table.table != "account_transactions")
            .all(|table| table.differences.is_empty()),
        "{corrupted}"
    );
}

/// A log of three pages of the rebuild (over 20,000 events, transfers among them), and three
/// rows of the live read models corrupted: a balance changed, a movement deleted, a transfer
/// changed. The rebuild swaps in exactly those rows (a changed row is removed and added back,
/// a missing one added), after which every read model equals the fold of the log; a second
/// rebuild finds nothing to change.
async fn a_rebuild_of_a_log_of_several_pages_swaps_in_only_the_rows_that_differ(db: TestDb) {
    const EVENTS: usize = 21_000;
    let app = TestApp::new(db).await;
    let accounts = some_history(&app).await;
    let depositing = vec![
        app.open_account(json!({})).await,
        app.open_account(json!({})).await,
    ];
    append_deposits(&app, &depositing, &mut HashMap::new(), EVENTS, 1_000).await;
    app.caught_up().await;
    let read = &app.db.read;
    let first = |sql: &'static str| async move {
        foldbank::db::query(sql)
            .fetch_scalar::<foldbank::db::Stored<Uuid>>(read)
            .await
            .expect("a row")
            .0
    };
    let movement =
        first("SELECT transaction_id FROM account_transactions ORDER BY global_position DESC LIMIT 1").await;
    let transfer = first("SELECT transfer_id FROM transfers ORDER BY transfer_id LIMIT 1").await;
    corrupt(
        &app,
        "UPDATE account_balances SET balance = balance + 7 WHERE account_id = $1",
        accounts[0],
    )
    .await;
    corrupt(
        &app,
        "DELETE FROM account_transactions WHERE transaction_id = $1",
        movement,
    )
    .await;
    corrupt(
        &app,
        "UPDATE transfers SET description = 'not what happened' WHERE transfer_id = $1",
        transfer,
    )
    .await;
    assert!(!verified(&app).await.is_consistent());

    let every = projection::ProjectionName::VARIANTS;
    let rebuilt = projection::rebuild(&app.db.read, &app.service.store, every, Progress::hidden())
        .await
        .expect("the rebuild");
    assert!(
        rebuilt.events > u64::try_from(EVENTS).expect("small"),
        "{rebuilt:?}"
    );
    assert_eq!(
        swapped(&rebuilt),
        [
            ("account_balances", 1, 1),
            ("account_transactions", 0, 1),
            ("transfers", 1, 1),
            ("ledger_totals", 0, 0),
            ("account_holds", 0, 0),
        ]
    );
    let verification = verified(&app).await;
    assert!(verification.is_consistent(), "{verification}");
    assert!(verification.tables[1].rows > EVENTS, "{verification}");

    let again = projection::rebuild(&app.db.read, &app.service.store, every, Progress::hidden())
        .await
        .expect("a second rebuild");
    assert!(
        again
            .swapped
            .iter()
            .all(|swapped| swapped.removed == 0 && swapped.added == 0),
        "{again:?}"
    );
}

/// Two read models added to a populated database (here `account_transactions` and
/// `transfers`, emptied with their checkpoints set back to 0: what a migration adding a read
/// model leaves) while the service is down. The service, started on it, fills them in bulk
/// (it says so in its log; the two read models that were up to date are left alone) while it
/// takes commands, then hands them over to their live followers: afterwards every read model
/// equals the fold of the log, the commands made during the catch-up included.
async fn a_read_model_added_to_a_populated_database_catches_up_in_bulk_then_follows_live(db: TestDb) {
    const EVENTS: usize = 21_000;
    let mut app = TestApp::new(db).await;
    some_history(&app).await;
    let depositing = vec![
        app.open_account(json!({})).await,
        app.open_account(json!({})).await,
    ];
    append_deposits(&app, &depositing, &mut HashMap::new(), EVENTS, 1_000).await;
    app.settled().await;
    app.stop_projector().await;
    app.stop_transfer_process().await;
    let indexes_before = lookup_indexes(&app, &["account_transactions", "transfers"]).await;
    assert_eq!(indexes_before.len(), 4, "{indexes_before:?}");
    let every_index_before = every_index(&app, &["account_transactions", "transfers"]).await;
    assert!(
        every_index_before.len() > indexes_before.len(),
        "{every_index_before:?}"
    );
    for table in ["account_transactions", "transfers"] {
        foldbank::db::query(format!("DELETE FROM {table}"))
            .execute(&app.db.read)
            .await
            .expect("empty the read model");
        let reset = foldbank::db::query("UPDATE projection_checkpoints SET position = 0 WHERE name = $1")
            .bind(table)
            .execute(&app.db.read)
            .await
            .expect("set its checkpoint back");
        assert_eq!(reset, 1);
    }

    let dir = tempfile::tempdir().expect("a directory for the log");
    let log = dir.path().join("service.log");
    let server = Server::start_logging(&app.db, free_port(), "warn,foldbank::follow=info", &log).await;
    let client = reqwest::Client::new();
    for n in 0..20 {
        let deposited = client
            .post(server.url(&format!("/accounts/{}/deposits", depositing[n % 2])))
            .json(&json!({ "amount": 5, "currency": "EUR" }))
            .send()
            .await
            .expect("request");
        assert_eq!(deposited.status(), reqwest::StatusCode::CREATED);
    }
    let transfer = client
        .post(server.url("/transfers"))
        .json(&json!({ "from_account": depositing[0], "to_account": depositing[1], "amount": 3, "currency": "EUR" }))
        .send()
        .await
        .expect("request");
    assert_eq!(transfer.status(), reqwest::StatusCode::ACCEPTED);
    wait_until_caught_up(&server).await;
    assert!(server.terminate().await, "the service stops gracefully");

    let logged = std::fs::read_to_string(&log).expect("the service's log");
    let bulk = |follower: &str| {
        logged.lines().any(|line| {
            line.contains("caught up with the log in bulk") && line.contains(&format!("\"{follower}\""))
        })
    };
    assert!(bulk("account_transactions") && bulk("transfers"), "{logged}");
    assert!(!bulk("account_balances") && !bulk("ledger_totals"), "{logged}");
    let verification = verified(&app).await;
    assert!(verification.is_consistent(), "{verification}");
    assert!(verification.tables[1].rows > EVENTS + 20, "{verification}");
    assert!(verification.tables[2].rows >= 3, "{verification}");
    // The catch-up filled the empty tables with their lookup indexes set aside: they are back,
    // as the migrations made them.
    let indexes_after = lookup_indexes(&app, &["account_transactions", "transfers"]).await;
    assert_eq!(indexes_after, indexes_before);
    assert_eq!(
        every_index(&app, &["account_transactions", "transfers"]).await,
        every_index_before
    );
}

/// A first fill builds the table's lookup indexes after its rows, which on PostgreSQL takes
/// the table's exclusive lock. Someone reading the (empty) table in a transaction that stays
/// open (here the test itself; a long `verify` in life) holds a lock that conflicts: the swap
/// must not wait for them (it holds the checkpoints meanwhile, and the reader might be waiting
/// for another table the swap holds), but compare and write row by row instead. The rebuild
/// finishes while the reader is still open, with the read model equal to the fold of the log
/// and its indexes as the migrations made them.
async fn a_first_fill_of_a_table_someone_is_reading_does_not_wait_for_them(db: TestDb) {
    let mut app = TestApp::new(db).await;
    some_history(&app).await;
    app.stop_projector().await;
    let indexes_before = lookup_indexes(&app, &["transfers"]).await;
    let transfers: u64 = foldbank::db::query("DELETE FROM transfers")
        .execute(&app.db.read)
        .await
        .expect("empty the read model");
    assert!(transfers >= 2, "{transfers}");
    foldbank::db::query("UPDATE projection_checkpoints SET position = 0 WHERE name = 'transfers'")
        .execute(&app.db.read)
        .await
        .expect("set its checkpoint back");

    let mut reader = app.db.read.begin_read().await.expect("a read transaction");
    let seen: i64 = foldbank::db::query("SELECT COUNT(*) FROM transfers")
        .fetch_scalar(&mut reader)
        .await
        .expect("read the table");
    assert_eq!(seen, 0);
    let rebuild = projection::rebuild(
        &app.db.read,
        &app.service.store,
        &[projection::ProjectionName::Transfers],
        Progress::hidden(),
    );
    let rebuilt = tokio::time::timeout(Duration::from_secs(60), rebuild)
        .await
        .expect("the rebuild does not wait for the reader")
        .expect("the rebuild");
    drop(reader);

    assert_eq!(swapped(&rebuilt), [("transfers", 0, transfers)]);
    let verification = verified(&app).await;
    assert!(verification.is_consistent(), "{verification}");
    assert_eq!(lookup_indexes(&app, &["transfers"]).await, indexes_before);
}

/// What a rebuild's swap changed: `(read model, rows removed, rows added)` of each.
fn swapped(rebuilt: &projection::Rebuilt) -> Vec<(&'static str, u64, u64)> {
    rebuilt
        .swapped
        .iter()
        .map(|swapped| (swapped.projection.as_str(), swapped.removed, swapped.added))
        .collect()
}

/// Every index of `tables` (those of their keys and unique constraints as well), with its
/// definition as the database reports it: a fill drops and builds them again, and must leave
/// them as the migrations made them.
async fn every_index(app: &TestApp, tables: &[&str]) -> Vec<(String, String)> {
    let sql = match app.db.read.backend() {
        foldbank::db::Backend::Postgres => {
            "SELECT c.relname::text AS name, pg_get_indexdef(i.indexrelid) \
             || COALESCE(' ' || (SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k WHERE k.conindid = i.indexrelid), '') \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass ORDER BY 1"
        }
        foldbank::db::Backend::Sqlite => {
            "SELECT name, COALESCE(sql, 'automatic') FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 ORDER BY 1"
        }
    };
    let mut indexes = Vec::new();
    for table in tables {
        let found: Vec<(String, String)> = foldbank::db::query(sql)
            .bind(*table)
            .fetch_all(&app.db.read)
            .await
            .expect("the indexes");
        indexes.extend(found);
    }
    indexes
}

/// The lookup indexes of `tables`, with the statements that create them.
async fn lookup_indexes(app: &TestApp, tables: &[&str]) -> Vec<foldbank::db::LookupIndex> {
    let mut tx = app.db.read.begin_write().await.expect("a transaction");
    let mut indexes = Vec::new();
    for table in tables {
        indexes.extend(tx.lookup_indexes(table).await.expect("the indexes"));
    }
    drop(tx); // rolled back: it only read
    indexes
}

/// A rebuild bounds its memory by the rows it holds: past them, a keyed read model's replay
/// writes them into the copy, lets them go, and reads them back when a later page names them.
/// Here it holds 3 rows and reads pages of 7 events, so every page after the first reads rows
/// back, over read models of many more rows (accounts, transfers): the copies must still come
/// out equal to the live read models, which the swap checks row by row (it changes nothing).
async fn a_rebuild_holding_fewer_rows_than_its_read_models_writes_them_back_and_reads_them_again(db: TestDb) {
    const HELD: usize = 3;
    let app = TestApp::new(db).await;
    some_history(&app).await;
    let mut accounts = Vec::new();
    for _ in 0..8 {
        accounts.push(app.open_account(json!({ "initial_deposit": 1_000 })).await);
    }
    for (n, from) in accounts.iter().enumerate() {
        let to = accounts[(n + 1) % accounts.len()];
        let transfer = app
            .post(
                "/transfers",
                json!({ "from_account": from, "to_account": to, "amount": 10, "currency": "EUR" }),
            )
            .await;
        assert_eq!(transfer.status, StatusCode::ACCEPTED, "{}", transfer.text);
    }
    app.settled().await;
    let head = app.service.store.head_position().await.expect("head");

    let options = projection::RebuildOptions {
        page: 7,
        held_rows: HELD,
        ..projection::RebuildOptions::default()
    };
    let every = projection::ProjectionName::VARIANTS;
    let rebuilt = projection::rebuild_with(
        &app.db.read,
        &app.service.store,
        every,
        options,
        Progress::hidden(),
    )
    .await
    .expect("the rebuild");
    assert_eq!(rebuilt.events, u64::try_from(head).expect("positive"));
    assert_eq!(
        swapped(&rebuilt),
        [
            ("account_balances", 0, 0),
            ("account_transactions", 0, 0),
            ("transfers", 0, 0),
            ("ledger_totals", 0, 0),
            ("account_holds", 0, 0),
        ]
    );
    let verification = verified(&app).await;
    assert!(verification.is_consistent(), "{verification}");
    // The premise: more rows than the replay held, and more events than a page.
    assert!(verification.tables[0].rows > 2 * HELD, "{verification}");
    assert!(verification.tables[2].rows > 2 * HELD, "{verification}");
    assert!(head > 10 * options.page, "{head}");
}

/// The swap of a rebuild writes the rows that differ in any of the columns a read model
/// names ([`Projection::columns`](foldbank::projection::Projection)): those must be every
/// column its table has, or a row wrong in one of the others would be kept.
async fn a_rebuilds_swap_compares_every_column_of_every_read_model(db: TestDb) {
    let app = TestApp::new(db).await;
    let columns_sql = match app.db.read.backend() {
        foldbank::db::Backend::Postgres => {
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()"
        }
        foldbank::db::Backend::Sqlite => "SELECT name FROM pragma_table_info($1)",
    };
    for projection in projection::all() {
        let mut stored: Vec<String> = foldbank::db::query(columns_sql)
            .bind(projection.table())
            .fetch_all::<(String,)>(&app.db.read)
            .await
            .expect("the table's columns")
            .into_iter()
            .map(|(column,)| column)
            .collect();
        stored.sort();
        let mut named: Vec<&str> = projection.columns().split(',').map(str::trim).collect();
        named.sort_unstable();
        assert_eq!(stored, named, "{}", projection.table());
        assert!(named.contains(&projection.key()), "{}", projection.table());
    }
}

/// 50,000 events in the log, then a rebuild of every read model while one task reads accounts
/// and `/projections` in a loop and another deposits: no read fails or finds the account
/// missing, no balance and no position goes back, and afterwards every read model equals the
/// fold of the log.
async fn queries_keep_being_answered_while_a_rebuild_replays_50000_events(db: TestDb) {
    const EVENTS: usize = 50_000;
    let started = Instant::now();
    let app = Arc::new(TestApp::new(db).await);
    let mut accounts = Vec::new();
    for _ in 0..20 {
        accounts.push(app.open_account(json!({})).await);
    }
    let mut versions = HashMap::new();
    append_deposits(&app, &accounts, &mut versions, EVENTS, 500).await;
    let head = app.caught_up().await;
    assert!(head > i64::try_from(EVENTS).expect("small"));
    let filled = started.elapsed();

    // A rebuild killed half-way (here: as soon as its copy of the history has rows) leaves
    // the live tables as they were.
    let killed = kill_a_rebuild_mid_replay(&app).await;
    let verification = verified(&app).await;
    assert!(
        verification.is_consistent(),
        "after a killed rebuild: {verification}"
    );
    assert!(killed > 0, "the killed rebuild had copied rows");
    // Its leases outlive it until they expire (30 s); here they expire at once.
    let expired = foldbank::db::query("UPDATE leases SET expires_at = $1 WHERE name LIKE 'rebuild:%'")
        .bind(chrono::Utc::now());
    assert_eq!(
        app.db.read.execute_write(expired).await.expect("expire"),
        5,
        "one lease per read model"
    );

    // The binary's rebuild, to its end, while queries and commands run beside it.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_until(app.clone(), accounts.clone(), stop.clone()));
    let writer = tokio::spawn(deposit_until(app.clone(), accounts[..5].to_vec(), stop.clone()));
    let rebuild_started = Instant::now();
    let rebuilt = run_foldbank(&app.db, &["rebuild", "all", "--log", "info"]).await;
    let rebuild_took = rebuild_started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    let deposit_problems = writer.await.expect("writer");

    assert!(
        rebuilt.status.success(),
        "{}{}",
        String::from_utf8_lossy(&rebuilt.stdout),
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    // Every read model the rebuild swapped in is at or past the head it started from (the
    // transfer manager, no read model, may still be on its way through the deposits).
    let status = app.get("/projections").await;
    let read_models = foldbank::app::projection_names();
    for projection in status.body["projections"].as_array().into_iter().flatten() {
        if read_models.iter().any(|name| projection["name"] == *name) {
            assert!(projection["checkpoint"].as_i64() >= Some(head), "{}", status.text);
        }
    }
    assert!(seen.reads > 10, "queries ran throughout the rebuild: {seen:?}");
    assert_eq!(seen.problems, Vec::<String>::new());
    assert_eq!(deposit_problems, Vec::<String>::new());

    app.caught_up().await;
    let verification = verified(&app).await;
    assert!(verification.is_consistent(), "{verification}");
    let balances = verification.tables[0].rows;
    assert_eq!(balances, accounts.len());
    let total: i64 = foldbank::db::query("SELECT CAST(SUM(balance) AS BIGINT) FROM account_balances")
        .fetch_scalar(&app.db.read)
        .await
        .expect("sum");
    assert!(total >= i64::try_from(EVENTS).expect("small"), "{total}");
    // Written to stderr directly: how long each part takes, for the record.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{}: {EVENTS} events filled and projected in {filled:?}; rebuild (the binary) in {rebuild_took:?} \
         with {} reads beside it; whole test {:?}",
        app.db.database.backend(),
        seen.reads,
        started.elapsed()
    );
}

/// Starts `foldbank rebuild all` and kills it (SIGKILL) once its copy of `account_transactions`
/// has rows; answers how many it had. Fails if the rebuild ended first.
async fn kill_a_rebuild_mid_replay(app: &TestApp) -> i64 {
    let mut rebuild = tokio::process::Command::new(env!("CARGO_BIN_EXE_foldbank"))
        .args(["rebuild", "all", "--log", "warn"])
        .args(app.db.cli_args())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start foldbank rebuild");
    for _ in 0..6_000 {
        let copied: Result<i64, _> =
            foldbank::db::query("SELECT COUNT(*) FROM account_transactions__rebuild")
                .fetch_scalar(&app.db.read)
                .await;
        if let Some(copied) = copied.ok().filter(|rows| *rows > 0) {
            assert!(
                rebuild.try_wait().expect("poll").is_none(),
                "the rebuild ended before it could be killed half-way"
            );
            rebuild.kill().await.expect("SIGKILL");
            return copied;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the rebuild never copied a row");
}

/// While a rebuild of `account_balances` holds its lease (here: this test, as a rebuild that
/// made its copy and is replaying), `foldbank rebuild` of it, or of all, exits at once with a
/// clear message and leaves that copy alone; once the lease is released it runs.
async fn a_second_rebuild_of_a_read_model_exits_and_leaves_the_first_alone(db: TestDb) {
    let app = TestApp::new(db).await;
    some_history(&app).await;
    let first = app
        .db
        .read
        .take_lease("rebuild:account_balances", Duration::from_secs(60))
        .await
        .expect("the first rebuild takes its lease");
    let mut tx = app.db.read.begin_write().await.expect("begin");
    tx.create_table_like("account_balances", "account_balances__rebuild")
        .await
        .expect("the first rebuild's copy");
    tx.commit().await.expect("commit");

    for target in ["account_balances", "all"] {
        let second = run_foldbank(&app.db, &["rebuild", target]).await;
        // The refusal is logged, on standard output or error depending on the log settings.
        let stderr = format!(
            "{}{}",
            String::from_utf8_lossy(&second.stdout),
            String::from_utf8_lossy(&second.stderr)
        );
        assert!(!second.status.success(), "rebuild {target}: {stderr}");
        assert!(
            stderr.contains("another rebuild is running") && stderr.contains("rebuild:account_balances"),
            "{stderr}"
        );
    }
    let copy: i64 = foldbank::db::query("SELECT COUNT(*) FROM account_balances__rebuild")
        .fetch_scalar(&app.db.read)
        .await
        .expect("the first rebuild's copy is still there");
    assert_eq!(copy, 0);
    let mut tx = app.db.read.begin_write().await.expect("begin");
    assert!(
        first.confirm(&mut tx).await.expect("confirm"),
        "the lease is still the first's"
    );
    tx.commit().await.expect("commit");

    first.release().await.expect("release");
    let mut tx = app.db.read.begin_write().await.expect("begin");
    tx.drop_table("account_balances__rebuild").await.expect("drop");
    tx.commit().await.expect("commit");
    let after = run_foldbank(&app.db, &["rebuild", "account_balances"]).await;
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(verified(&app).await.is_consistent());
}

/// A holder stalled past its lease's expiry (here: the expiry moved into the past) loses it to
/// the next taker, and its own transactions can no longer confirm it: a stalled rebuild writes
/// nothing more into the copies of the rebuild that took over.
async fn an_expired_lease_is_taken_over_and_its_old_holder_can_no_longer_confirm_it(db: TestDb) {
    let database = &db.read;
    let first = database
        .take_lease("rebuild:transfers", Duration::from_secs(60))
        .await
        .expect("take");
    let busy = database
        .take_lease("rebuild:transfers", Duration::from_secs(60))
        .await;
    assert!(
        matches!(busy, Err(foldbank::db::LeaseError::Held { .. })),
        "{busy:?}"
    );

    let expired = foldbank::db::query("UPDATE leases SET expires_at = $1 WHERE name = 'rebuild:transfers'")
        .bind(chrono::Utc::now() - chrono::TimeDelta::seconds(1));
    assert_eq!(database.execute_write(expired).await.expect("expire"), 1);
    let second = database
        .take_lease("rebuild:transfers", Duration::from_secs(60))
        .await
        .expect("an expired lease is free");

    let mut tx = database.begin_write().await.expect("begin");
    assert!(
        !first.confirm(&mut tx).await.expect("confirm"),
        "the first holder lost it"
    );
    assert!(
        second.confirm(&mut tx).await.expect("confirm"),
        "the second holds it"
    );
    tx.commit().await.expect("commit");
    first
        .release()
        .await
        .expect("release does not take it from the second");
    let mut tx = database.begin_write().await.expect("begin");
    assert!(second.confirm(&mut tx).await.expect("confirm"));
    tx.commit().await.expect("commit");
    second.release().await.expect("release");
}
