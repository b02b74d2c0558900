//! The hash chain over the log: a log of a few thousand events verifies link by link, and
//! every way of rewriting it around the service (a byte of a payload changed, an event
//! deleted, two events swapped, an event inserted) is named by `foldbank verify --chain` at
//! its position. A log that predates the chain is linked at start-up; an event appended
//! without a link is linked by the next batch.

use std::collections::HashMap;

use foldbank::db::{Backend, query};
use foldbank::store::chain::{self, Break};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests, run_foldbank};
use crate::operations::append_deposits;

backend_tests!(
    a_log_of_thousands_of_events_verifies_link_by_link,
    a_changed_byte_is_named_at_its_position,
    a_deleted_event_is_named_at_its_position,
    two_swapped_events_are_named,
    an_event_inserted_around_the_service_is_named,
    a_log_that_predates_the_chain_is_linked_at_start_up_and_by_the_next_append,
);

/// A log of `deposits` deposits (plus the openings) over a few accounts, and its head.
async fn a_log(app: &TestApp, deposits: usize) -> i64 {
    let mut accounts = Vec::new();
    for _ in 0..4 {
        accounts.push(app.open_account(json!({})).await);
    }
    append_deposits(app, &accounts, &mut HashMap::new(), deposits, 50).await;
    app.service.store.head_position().await.expect("head")
}

/// Runs `sqlite` or `postgres` (statements separated by `;`) with the log's append-only
/// triggers out of the way, as someone with write access to the database could.
async fn around_the_service(db: &TestDb, sqlite: &str, postgres: &str) {
    let (disable, statements) = match db.database.backend() {
        Backend::Sqlite => (
            "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete",
            sqlite,
        ),
        Backend::Postgres => ("ALTER TABLE events DISABLE TRIGGER USER", postgres),
    };
    for statement in disable.split(';').chain(statements.split(';')) {
        query(statement.trim().to_owned())
            .execute(&db.database)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
}

async fn verified(db: &TestDb) -> chain::ChainReport {
    chain::verify(&db.database, |_| {}).await.expect("verify runs")
}

/// `foldbank verify --chain`: its exit code and report.
async fn verify_command(db: &TestDb) -> (Option<i32>, String) {
    let run = run_foldbank(db, &["verify", "--chain", "--log", "warn"]).await;
    (
        run.status.code(),
        String::from_utf8_lossy(&run.stdout).into_owned(),
    )
}

async fn a_log_of_thousands_of_events_verifies_link_by_link(db: TestDb) {
    let app = TestApp::new(db).await;
    let head = a_log(&app, 3_000).await;
    let report = verified(&app.db).await;
    assert_eq!(report.broken, None, "{report}");
    assert_eq!(report.intact, head);
    let (code, stdout) = verify_command(&app.db).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("chain: {head} events, every link recomputed and equal")),
        "{stdout}"
    );
    assert!(stdout.contains(&report.head.to_hex()), "{stdout}");
}

async fn a_changed_byte_is_named_at_its_position(db: TestDb) {
    let app = TestApp::new(db).await;
    let head = a_log(&app, 1_000).await;
    let position = head / 2;
    around_the_service(
        &app.db,
        &format!("UPDATE events SET payload = json_set(payload, '$.amount', 2) WHERE global_position = {position}"),
        &format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{amount}}', '2') WHERE global_position = {position}"
        ),
    )
    .await;
    let report = verified(&app.db).await;
    assert_eq!(report.broken, Some(Break::Modified { position }), "{report}");
    assert_eq!(report.intact, position - 1);
    let (code, stdout) = verify_command(&app.db).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("chain broken at position {position}:")),
        "{stdout}"
    );
}

async fn a_deleted_event_is_named_at_its_position(db: TestDb) {
    let app = TestApp::new(db).await;
    let head = a_log(&app, 1_000).await;
    let position = head - 100;
    let delete = format!("DELETE FROM events WHERE global_position = {position}");
    around_the_service(&app.db, &delete, &delete).await;
    let report = verified(&app.db).await;
    assert_eq!(report.broken, Some(Break::Missing { position }), "{report}");
    let (code, stdout) = verify_command(&app.db).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("position {position}: the event is missing")),
        "{stdout}"
    );
}

async fn two_swapped_events_are_named(db: TestDb) {
    let app = TestApp::new(db).await;
    let head = a_log(&app, 1_000).await;
    let (first, second) = (head / 3, head / 3 + 7);
    let swap = format!(
        "UPDATE events SET global_position = 1000000000 WHERE global_position = {first}; \
         UPDATE events SET global_position = {first} WHERE global_position = {second}; \
         UPDATE events SET global_position = {second} WHERE global_position = 1000000000"
    );
    around_the_service(&app.db, &swap, &swap).await;
    let report = verified(&app.db).await;
    assert_eq!(
        report.broken,
        Some(Break::Modified { position: first }),
        "{report}"
    );
}

async fn an_event_inserted_around_the_service_is_named(db: TestDb) {
    let app = TestApp::new(db).await;
    let head = a_log(&app, 200).await;
    let position = head + 1;
    let insert = format!(
        "INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id, \
         event_type, schema_version, payload, metadata, occurred_at, recorded_at) \
         SELECT {position}, stream_type, stream_id, stream_version + 1000, '{}', event_type, \
         schema_version, payload, metadata, occurred_at, recorded_at FROM events WHERE global_position = {head}",
        Uuid::now_v7()
    );
    around_the_service(&app.db, &insert, &insert).await;
    let report = verified(&app.db).await;
    assert_eq!(report.broken, Some(Break::Unlinked { position }), "{report}");
    assert_eq!(report.intact, head);
}

async fn a_log_that_predates_the_chain_is_linked_at_start_up_and_by_the_next_append(db: TestDb) {
    let app = TestApp::new(db).await;
    let head = a_log(&app, 1_000).await;
    let intact = verified(&app.db).await;
    // The chain as a version before it would have left the log: no links at all.
    let forget = match app.db.database.backend() {
        Backend::Sqlite => "DROP TRIGGER event_chain_no_delete; DELETE FROM event_chain",
        Backend::Postgres => "ALTER TABLE event_chain DISABLE TRIGGER USER; DELETE FROM event_chain",
    };
    for statement in forget.split(';') {
        query(statement.trim().to_owned())
            .execute(&app.db.database)
            .await
            .expect("forget the chain");
    }
    assert_eq!(
        verified(&app.db).await.broken,
        Some(Break::Unlinked { position: 1 })
    );

    let mut batches = 0;
    let linked = chain::catch_up(&app.db.database, |_, _| batches += 1)
        .await
        .expect("catch up");
    assert_eq!((linked, batches), (head, 1));
    // The same links as those the group commit made.
    assert_eq!(verified(&app.db).await, intact);

    // An append without a link (an older version beside this one): the next batch links it.
    let forget_last = format!("DELETE FROM event_chain WHERE global_position > {}", head - 10);
    query(forget_last)
        .execute(&app.db.database)
        .await
        .expect("forget the last links");
    let account = app.open_account(json!({ "initial_deposit": 5 })).await;
    let report = verified(&app.db).await;
    assert_eq!(report.broken, None, "{report}");
    assert_eq!(report.intact, head + 2, "{account}");
}
