//! The hash chain over the log: a log of a few thousand events verifies link by link, and
//! every way of rewriting it around the service (a byte of a payload changed, an event
//! deleted, two events swapped, an event inserted) is named by `foldbank verify --chain` at
//! its position. A log that predates the chain is linked at start-up; an event appended
//! without a link is linked by the next batch.

use std::collections::HashMap;

use std::time::Duration;

use axum::http::StatusCode;
use chrono::TimeDelta;
use foldbank::clock::Clock;
use foldbank::db::{Backend, query};
use foldbank::process::CheckpointSigner;
use foldbank::process::checkpoints::{Cadence, SigningError};
use foldbank::store::RecordedEvent;
use foldbank::store::chain::checkpoint::{ChainSigner, PublicKey};
use foldbank::store::chain::{self, BadCheckpoint, Break, Chained, Forgery, Link};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Server, TestApp, TestDb, backend_tests, free_port, run_foldbank};
use crate::operations::append_deposits;

backend_tests!(
    a_log_of_thousands_of_events_verifies_link_by_link,
    a_changed_byte_is_named_at_its_position,
    a_deleted_event_is_named_at_its_position,
    two_swapped_events_are_named,
    an_event_inserted_around_the_service_is_named,
    a_log_that_predates_the_chain_is_linked_at_start_up_and_by_the_next_append,
    checkpoints_are_signed_at_most_every_n_events_or_t_seconds_and_served_by_get_chain,
    a_rewrite_relinked_to_the_end_fails_the_signed_checkpoints_after_it,
    events_removed_with_their_links_fail_the_checkpoint_past_the_new_end,
    the_running_service_signs_checkpoints_that_verify_with_its_public_key,
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
/// triggers out of the way, as someone with write access to the database could; they are back
/// in place afterwards.
async fn around_the_service(db: &TestDb, sqlite: &str, postgres: &str) {
    let statements = match db.database.backend() {
        Backend::Sqlite => sqlite,
        Backend::Postgres => postgres,
    };
    with_triggers_lifted(db, statements.split(';').map(str::to_owned).collect()).await;
}

/// Sets the amount of the event at `position` to 2, around the service.
async fn change_an_amount(db: &TestDb, position: i64) {
    around_the_service(
        db,
        &format!("UPDATE events SET payload = json_set(payload, '$.amount', 2) WHERE global_position = {position}"),
        &format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{amount}}', '2') WHERE global_position = {position}"
        ),
    )
    .await;
}

/// Runs `statements` in one transaction, the log's triggers dropped (SQLite) or disabled
/// (PostgreSQL) before them and back after them.
async fn with_triggers_lifted(db: &TestDb, statements: Vec<String>) {
    let mut tx = db.database.begin_write().await.expect("a transaction");
    let (lift, restore) = match db.database.backend() {
        Backend::Sqlite => {
            let triggers: Vec<(String, String)> =
                query("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")
                    .fetch_all(&mut tx)
                    .await
                    .expect("the triggers");
            assert_eq!(triggers.len(), 2, "{triggers:?}");
            (
                triggers
                    .iter()
                    .map(|(name, _)| format!("DROP TRIGGER {name}"))
                    .collect(),
                triggers.into_iter().map(|(_, sql)| sql).collect(),
            )
        }
        Backend::Postgres => (
            vec!["ALTER TABLE events DISABLE TRIGGER USER".to_owned()],
            vec!["ALTER TABLE events ENABLE TRIGGER USER".to_owned()],
        ),
    };
    for statement in lift.into_iter().chain(statements).chain(restore) {
        query(statement.trim().to_owned())
            .execute(&mut tx)
            .await
            .unwrap_or_else(|error| panic!("{statement}: {error}"));
    }
    tx.commit().await.expect("committed");
}

async fn verified(db: &TestDb) -> chain::ChainReport {
    chain::verify(&db.database, None, Vec::new(), |_| {})
        .await
        .expect("verify runs")
}

/// `foldbank verify --chain`: its exit code and report.
async fn verify_command(db: &TestDb) -> (Option<i32>, String) {
    verify_command_args(db, &[]).await
}

/// `foldbank verify --chain ARGS`: its exit code and report.
async fn verify_command_args(db: &TestDb, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["verify", "--chain", "--log", "warn"];
    all.extend_from_slice(args);
    let run = run_foldbank(db, &all).await;
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
    change_an_amount(&app.db, position).await;
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
    let forget = "UPDATE events SET hash = NULL";
    around_the_service(&app.db, forget, forget).await;
    assert_eq!(
        verified(&app.db).await.broken,
        Some(Break::Unlinked { position: 1 })
    );

    // With the triggers in place, as at start-up: a link may be set where there is none, and
    // nothing else.
    let linked_once = format!(
        "UPDATE events SET hash = '{}' WHERE global_position = 1",
        "ab".repeat(32)
    );
    let with_more = format!(
        "UPDATE events SET hash = '{}', event_type = 'Forged' WHERE global_position = 2",
        "ab".repeat(32)
    );
    assert!(
        query(with_more).execute(&app.db.database).await.is_err(),
        "a link set with another column is refused"
    );
    query(linked_once.clone())
        .execute(&app.db.database)
        .await
        .expect("a missing link may be set");
    for refused in [
        linked_once,
        "UPDATE events SET hash = NULL WHERE global_position = 1".to_owned(),
    ] {
        assert!(
            query(refused.clone()).execute(&app.db.database).await.is_err(),
            "{refused}: a link, once set, stays"
        );
    }
    let forget_first = "UPDATE events SET hash = NULL WHERE global_position = 1";
    around_the_service(&app.db, forget_first, forget_first).await;

    let mut batches = 0;
    let linked = chain::catch_up(&app.db.database, |_, _| batches += 1)
        .await
        .expect("catch up");
    assert_eq!((linked, batches), (head, 1));
    // The same links as those the group commit made.
    assert_eq!(verified(&app.db).await, intact);

    // An append without a link (an older version beside this one): the next batch links it.
    let forget_last = format!(
        "UPDATE events SET hash = NULL WHERE global_position > {}",
        head - 10
    );
    around_the_service(&app.db, &forget_last, &forget_last).await;
    let account = app.open_account(json!({ "initial_deposit": 5 })).await;
    let report = verified(&app.db).await;
    assert_eq!(report.broken, None, "{report}");
    assert_eq!(report.intact, head + 2, "{account}");
}

/// A test app whose service signs checkpoints with a new key, the signer (not started: each
/// `sign_if_due` is one look) and its public key.
fn signing(app: TestApp, cadence: Cadence) -> (TestApp, CheckpointSigner, PublicKey) {
    let key = ChainSigner::generate().expect("a key");
    let public = key.public_key();
    let service = app.service.clone().with_chain_signer(Some(key));
    let app = app.with_service(service);
    let signer = app.service.checkpoint_signer(cadence).expect("a signing key");
    (app, signer, public)
}

/// The checkpoint `signer` signs now: one is due.
async fn signed(signer: &CheckpointSigner) -> foldbank::store::chain::checkpoint::Checkpoint {
    signer
        .sign_if_due()
        .await
        .expect("signs")
        .expect("a checkpoint is due")
}

const EVERY_100_EVENTS_OR_A_MINUTE: Cadence = Cadence {
    events: 100,
    interval: Duration::from_secs(60),
};

async fn verified_with(db: &TestDb, key: &PublicKey) -> chain::ChainReport {
    chain::verify(&db.database, Some(key), Vec::new(), |_| {})
        .await
        .expect("verify runs")
}

/// Recomputes every link from `position` on, as someone who rewrote the event there and wants
/// the chain to look intact would (the log's triggers already out of the way).
async fn relink_from(db: &TestDb, position: i64) {
    let previous: Option<String> = query("SELECT hash FROM events WHERE global_position = $1")
        .bind(position - 1)
        .fetch_scalar(&db.database)
        .await
        .expect("the link before");
    let mut link = Link::from_hex(&previous.expect("linked")).expect("hex");
    let events: Vec<RecordedEvent> = query(
        "SELECT global_position, stream_type, stream_id, stream_version, event_id, event_type, \
         schema_version, payload, metadata, occurred_at, recorded_at FROM events \
         WHERE global_position >= $1 ORDER BY global_position",
    )
    .bind(position)
    .fetch_all(&db.database)
    .await
    .expect("the events after");
    let relinked = events
        .iter()
        .map(|event| {
            link = link.then(&Chained::from(event));
            format!(
                "UPDATE events SET hash = '{link}' WHERE global_position = {}",
                event.global_position
            )
        })
        .collect();
    with_triggers_lifted(db, relinked).await;
}

async fn checkpoints_are_signed_at_most_every_n_events_or_t_seconds_and_served_by_get_chain(db: TestDb) {
    let (app, signer, key) = signing(TestApp::new(db).await, EVERY_100_EVENTS_OR_A_MINUTE);
    assert_eq!(signer.sign_if_due().await.expect("looks"), None, "an empty log");
    let first_head = a_log(&app, 300).await;
    let first = signed(&signer).await;
    assert_eq!(first.position, first_head);
    assert!(key.verifies(&first));
    // The head has not moved: nothing to sign.
    assert_eq!(signer.sign_if_due().await.expect("looks"), None);
    // A few events, within the minute: not yet.
    app.open_account(json!({ "initial_deposit": 5 })).await;
    assert_eq!(signer.sign_if_due().await.expect("looks"), None);
    // The minute passes: the moved head is signed.
    app.clock.advance(TimeDelta::seconds(61));
    let second = signed(&signer).await;
    assert!(second.position > first.position && second.position < first.position + 100);
    // A hundred events: signed at once.
    let third_head = a_log(&app, 120).await;
    let third = signed(&signer).await;
    assert_eq!(third.position, third_head);

    let page = app.get("/chain?limit=2").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.body["algorithm"], "ed25519");
    assert_eq!(page.body["public_key"], key.to_base64());
    let positions = |body: &Value| -> Vec<i64> {
        body["checkpoints"]
            .as_array()
            .expect("checkpoints")
            .iter()
            .map(|checkpoint| checkpoint["position"].as_i64().expect("a position"))
            .collect()
    };
    assert_eq!(positions(&page.body), vec![first.position, second.position]);
    assert_eq!(page.body["next_after"], second.position);
    assert_eq!(page.body["signed_up_to"], third.position);
    let rest = app.get(&format!("/chain?after={}", second.position)).await;
    assert_eq!(positions(&rest.body), vec![third.position]);
    assert_eq!(rest.body["next_after"], Value::Null);
    let served = &rest.body["checkpoints"][0];
    assert_eq!(served["hash"], third.hash.as_str());
    assert_eq!(served["signature"], third.signature.as_str());
    // The signed hash is the link `GET /events` shows for that event.
    let event = app
        .get(&format!("/events?after={}&limit=1", third.position - 1))
        .await;
    assert_eq!(event.body["events"][0]["hash"], third.hash.as_str());
    app.get("/chain?after=-1")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "validation-failed");

    let report = verified_with(&app.db, &key).await;
    assert!(report.is_intact(), "{report}");
    assert_eq!((report.checkpoints, report.signatures_checked), (3, true));
}

async fn a_rewrite_relinked_to_the_end_fails_the_signed_checkpoints_after_it(db: TestDb) {
    let (app, signer, key) = signing(TestApp::new(db).await, EVERY_100_EVENTS_OR_A_MINUTE);
    a_log(&app, 200).await;
    let first = signed(&signer).await;
    a_log(&app, 200).await;
    let second = signed(&signer).await;
    a_log(&app, 200).await;
    let third = signed(&signer).await;
    let (code, stdout) = verify_command_with(&app.db, &key).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("checkpoints: 3 compared with the chain, their signatures checked; 0 do not hold"),
        "{stdout}"
    );
    // An auditor's copy of the checkpoints, kept outside the database.
    let published = app.get("/chain?limit=500").await;
    assert_eq!(published.status, StatusCode::OK);
    let copy = tempfile::NamedTempFile::new().expect("a file");
    std::fs::write(copy.path(), &published.text).expect("saved");

    // An amount changed between the first and second checkpoints, and every later link
    // recomputed: the chain alone looks intact.
    let position = first.position + 50;
    change_an_amount(&app.db, position).await;
    relink_from(&app.db, position).await;
    // The service does not sign the rewritten log: its head no longer extends the newest
    // checkpoint.
    a_log(&app, 150).await;
    let refused = signer.sign_if_due().await;
    assert!(
        matches!(refused, Err(SigningError::Tampered { signed, .. }) if signed == third.position),
        "{refused:?}"
    );
    let report = verified_with(&app.db, &key).await;
    assert_eq!(report.broken, None, "{report}");
    assert_eq!(
        report.bad_checkpoints,
        vec![
            BadCheckpoint {
                position: second.position,
                forgery: Forgery::Hash
            },
            BadCheckpoint {
                position: third.position,
                forgery: Forgery::Hash
            },
        ],
        "{report}"
    );
    let (code, stdout) = verify_command_with(&app.db, &key).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "checkpoint at position {}: the recomputed link differs from the signed one",
            second.position
        )),
        "{stdout}"
    );

    // Checkpoints re-signed by whoever rewrote the log, with a key of their own, do not
    // verify with the service's key.
    let forger = ChainSigner::generate().expect("a key");
    // (Before the head, where the service signed already.)
    let forged_at = app.service.store.head_position().await.expect("head") - 1;
    let link: String = query("SELECT hash FROM events WHERE global_position = $1")
        .bind(forged_at)
        .fetch_scalar(&app.db.database)
        .await
        .expect("the head's link");
    let forged = forger.sign(forged_at, &Link::from_hex(&link).expect("hex"), app.clock.now());
    chain::checkpoint::record(&app.db.database, &forged)
        .await
        .expect("stored");
    let report = verified_with(&app.db, &key).await;
    assert!(
        report.bad_checkpoints.contains(&BadCheckpoint {
            position: forged_at,
            forgery: Forgery::Signature
        }),
        "{report}"
    );
    assert_eq!(report.bad_checkpoints.len(), 3, "{report}");
    // Without a key only the hashes are compared, and the report says so.
    let unsigned = verified(&app.db).await;
    assert!(!unsigned.signatures_checked);
    assert_eq!(unsigned.bad_checkpoints.len(), 2, "{unsigned}");
    assert!(
        unsigned.to_string().contains("signatures NOT checked"),
        "{unsigned}"
    );

    // A forger who also deletes every stored checkpoint leaves a log that verifies on its
    // own; the copy kept elsewhere still shows the rewrite.
    let delete_checkpoints = match app.db.database.backend() {
        Backend::Sqlite => "DROP TRIGGER chain_checkpoints_no_delete; DELETE FROM chain_checkpoints",
        Backend::Postgres => {
            "ALTER TABLE chain_checkpoints DISABLE TRIGGER USER; DELETE FROM chain_checkpoints"
        }
    };
    with_triggers_lifted(
        &app.db,
        delete_checkpoints.split(';').map(str::to_owned).collect(),
    )
    .await;
    let (code, stdout) = verify_command_with(&app.db, &key).await;
    assert_eq!(code, Some(0), "only the copy can tell: {stdout}");
    let copy_path = copy.path().to_str().expect("a path");
    let key_text = key.to_base64();
    let (code, stdout) =
        verify_command_args(&app.db, &["--public-key", &key_text, "--checkpoints", copy_path]).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "checkpoint at position {}: the recomputed link differs from the signed one",
            second.position
        )),
        "{stdout}"
    );
}

async fn events_removed_with_their_links_fail_the_checkpoint_past_the_new_end(db: TestDb) {
    let (app, signer, key) = signing(TestApp::new(db).await, EVERY_100_EVENTS_OR_A_MINUTE);
    let head = a_log(&app, 300).await;
    let checkpoint = signed(&signer).await;
    assert_eq!(checkpoint.position, head);
    let drop_newest = format!("DELETE FROM events WHERE global_position > {}", head - 10);
    around_the_service(&app.db, &drop_newest, &drop_newest).await;
    let report = verified_with(&app.db, &key).await;
    let refused = signer.sign_if_due().await;
    assert!(
        matches!(refused, Err(SigningError::Tampered { signed, broken: Break::Missing { .. } }) if signed == head),
        "{refused:?}"
    );
    // The chain that is left is intact: only the checkpoint knows what is gone.
    assert_eq!(
        (report.broken.clone(), report.intact),
        (None, head - 10),
        "{report}"
    );
    assert_eq!(
        report.bad_checkpoints,
        vec![BadCheckpoint {
            position: head,
            forgery: Forgery::BeyondTheLog
        }]
    );
    let (code, stdout) = verify_command_with(&app.db, &key).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("checkpoint at position {head}: the log ends before it")),
        "{stdout}"
    );
}

/// `foldbank verify --chain --public-key KEY`: its exit code and report.
async fn verify_command_with(db: &TestDb, key: &PublicKey) -> (Option<i32>, String) {
    verify_command_args(db, &["--public-key", &key.to_base64()]).await
}

async fn the_running_service_signs_checkpoints_that_verify_with_its_public_key(db: TestDb) {
    let directory = tempfile::tempdir().expect("a directory");
    let key_file = directory.path().join("chain.pem");
    let key_path = key_file.to_str().expect("a path");
    let created = run_foldbank(&db, &["signing-key", "create", key_path, "--log", "warn"]).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let public_key = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert!(PublicKey::from_base64(&public_key).is_ok(), "{public_key}");
    // A second `create` never overwrites the key.
    let again = run_foldbank(&db, &["signing-key", "create", key_path, "--log", "warn"]).await;
    assert!(!again.status.success());

    let server = Server::start_with(
        &db,
        free_port(),
        &[
            "--signing-key-file",
            key_path,
            "--checkpoint-every-events",
            "20",
            "--checkpoint-every-secs",
            "1",
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let opened = client
        .post(server.url("/accounts"))
        .json(&json!({ "owner_id": Uuid::now_v7(), "currency": "EUR", "initial_deposit": 100 }))
        .send()
        .await
        .expect("open");
    assert_eq!(opened.status(), reqwest::StatusCode::CREATED);
    let account = opened.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let deposits = |count: usize| {
        let (client, url) = (client.clone(), server.url(&format!("{account}/deposits")));
        async move {
            for _ in 0..count {
                let deposit = client
                    .post(&url)
                    .json(&json!({ "amount": 10, "currency": "EUR", "description": "salary" }))
                    .send()
                    .await
                    .expect("deposit");
                assert!(deposit.status().is_success());
            }
        }
    };
    // The signer looks every second: after each burst, wait for the head's checkpoint (the
    // deadline only ends a hung run).
    let signed_head = || async {
        let head: i64 = query("SELECT MAX(global_position) FROM events")
            .fetch_scalar(&db.database)
            .await
            .expect("head");
        let mut chain = Value::Null;
        for _ in 0..600 {
            chain = client
                .get(server.url("/chain?limit=500"))
                .send()
                .await
                .expect("chain")
                .json()
                .await
                .expect("json");
            let last = chain["checkpoints"]
                .as_array()
                .and_then(|all| all.last().cloned());
            if last.is_some_and(|last| last["position"] == head) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let last = chain["checkpoints"]
            .as_array()
            .and_then(|all| all.last().cloned());
        assert_eq!(
            last.map(|last| last["position"].clone()),
            Some(json!(head)),
            "{chain}"
        );
        chain
    };
    deposits(50).await;
    signed_head().await;
    deposits(5).await;
    let chain = signed_head().await;
    assert_eq!(chain["public_key"], public_key.as_str(), "{chain}");
    let checkpoints = chain["checkpoints"].as_array().expect("checkpoints");
    assert!(checkpoints.len() >= 2, "{chain}");
    assert!(server.terminate().await);

    let with_key = run_foldbank(
        &db,
        &["verify", "--chain", "--public-key", &public_key, "--log", "warn"],
    )
    .await;
    let report = String::from_utf8_lossy(&with_key.stdout);
    assert_eq!(with_key.status.code(), Some(0), "{report}");
    assert!(
        report.contains(&format!(
            "checkpoints: {} compared with the chain, their signatures checked; 0 do not hold",
            checkpoints.len()
        )),
        "{report}"
    );
    // The configured key's public half, without `--public-key`.
    let configured = run_foldbank(
        &db,
        &[
            "verify",
            "--chain",
            "--signing-key-file",
            key_path,
            "--log",
            "warn",
        ],
    )
    .await;
    assert_eq!(
        configured.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&configured.stdout)
    );
    // Another key: every signature fails.
    let other = ChainSigner::generate().expect("a key").public_key().to_base64();
    let wrong = run_foldbank(
        &db,
        &["verify", "--chain", "--public-key", &other, "--log", "warn"],
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stdout).contains("the signature does not verify with the public key")
    );
}
