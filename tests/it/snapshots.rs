//! Snapshots: loading a long history starts from the stored fold and replays only the rest.

use std::sync::Arc;

use chrono::Utc;
use foldbank::app::App;
use foldbank::clock::{Clock, SystemClock, UuidV7};
use foldbank::command::{AccountCommandHandler, LoadedAccount, Precondition, SNAPSHOT_EVERY};
use foldbank::domain::account::{AccountCommand, Deposit, OpenAccount, STATE_SCHEMA_VERSION};
use foldbank::domain::ids::{AccountId, OwnerId};
use foldbank::domain::money::{Amount, Limit};
use foldbank::store::Snapshot;
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    a_long_history_loads_from_its_latest_snapshot_and_the_events_after_it,
    a_snapshot_of_another_shape_is_ignored_and_replaced,
    without_snapshots_the_events_alone_give_the_same_state,
    snapshots_clear_deletes_every_snapshot_and_loads_replay_to_the_same_state,
    the_interval_is_a_setting_and_time_travel_says_which_snapshot_it_folded_from,
);

/// An account with `deposits` deposits, written through the command handler.
async fn account_with(commands: &AccountCommandHandler, deposits: i64) -> AccountId {
    let id = AccountId(Uuid::now_v7());
    commands
        .handle(id, Precondition::None, None, |stamp| {
            AccountCommand::Open(OpenAccount {
                account_id: id,
                owner_id: OwnerId(Uuid::now_v7()),
                currency: "EUR".parse().expect("EUR"),
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
    for n in 1..=deposits {
        commands
            .handle(id, Precondition::None, None, |stamp| {
                AccountCommand::Deposit(Deposit {
                    transaction_id: stamp.transaction_id,
                    amount: Amount::new(n).expect("amount"),
                    currency: "EUR".parse().expect("EUR"),
                    description: None,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await
            .expect("deposit");
    }
    id
}

#[track_caller]
fn assert_same_account(from_snapshot: &LoadedAccount, replayed: &LoadedAccount) {
    assert_eq!(from_snapshot.state, replayed.state);
    assert_eq!(from_snapshot.version, replayed.version);
    assert_eq!(from_snapshot.position, replayed.position);
    assert_eq!(from_snapshot.last_occurred_at, replayed.last_occurred_at);
}

async fn snapshot_count(db: &TestDb) -> i64 {
    foldbank::db::query("SELECT COUNT(*) FROM snapshots")
        .fetch_scalar(&db.database)
        .await
        .expect("count snapshots")
}

fn state(db: &TestDb) -> App {
    App::new(db.databases(), Arc::new(SystemClock), Arc::new(UuidV7))
        .with_master_key(crate::common::master_key())
}

async fn a_long_history_loads_from_its_latest_snapshot_and_the_events_after_it(db: TestDb) {
    let app = state(&db);
    let account = account_with(&app.http.commands, 2 * SNAPSHOT_EVERY + 50).await;

    let snapshot = app
        .store
        .load_snapshot("account", account.as_uuid())
        .await
        .expect("read")
        .expect("a snapshot");
    let from_snapshot = app.http.commands.load(account).await.expect("load");
    let replayed = app.http.commands.replay(account).await.expect("replay");

    assert_eq!(
        snapshot.version,
        2 * SNAPSHOT_EVERY,
        "taken every {SNAPSHOT_EVERY} events"
    );
    assert_eq!(snapshot.schema_version, STATE_SCHEMA_VERSION);
    assert_eq!(from_snapshot.snapshot_version, Some(snapshot.version));
    assert_eq!(replayed.version, 2 * SNAPSHOT_EVERY + 51);
    assert_same_account(&from_snapshot, &replayed);
}

async fn a_snapshot_of_another_shape_is_ignored_and_replaced(db: TestDb) {
    let app = state(&db);
    let account = account_with(&app.http.commands, 10).await;
    let outdated = Snapshot {
        stream_type: "account".into(),
        stream_id: account.as_uuid(),
        version: 5,
        position: 5,
        schema_version: STATE_SCHEMA_VERSION + 1,
        state: json!({ "shape": "from another build" }),
        taken_at: Utc::now(),
    };
    app.store.save_snapshot(&outdated).await.expect("save");

    let loaded = app.http.commands.load(account).await.expect("load");
    assert_eq!(
        loaded.snapshot_version, None,
        "the outdated snapshot was not used"
    );
    assert_same_account(&loaded, &app.http.commands.replay(account).await.expect("replay"));

    // The next snapshot replaces it.
    for _ in 0..SNAPSHOT_EVERY {
        app.http
            .commands
            .handle(account, Precondition::None, None, |stamp| {
                AccountCommand::Deposit(Deposit {
                    transaction_id: stamp.transaction_id,
                    amount: Amount::new(1).expect("amount"),
                    currency: "EUR".parse().expect("EUR"),
                    description: None,
                    occurred_at: stamp.occurred_at,
                })
            })
            .await
            .expect("deposit");
    }
    let replaced = app
        .store
        .load_snapshot("account", account.as_uuid())
        .await
        .expect("read")
        .expect("snapshot");
    assert_eq!(replaced.schema_version, STATE_SCHEMA_VERSION);
    assert_same_account(
        &app.http.commands.load(account).await.expect("load"),
        &app.http.commands.replay(account).await.expect("replay"),
    );
}

async fn without_snapshots_the_events_alone_give_the_same_state(db: TestDb) {
    let app = state(&db);
    let account = account_with(&app.http.commands, SNAPSHOT_EVERY + 20).await;
    let with_snapshot = app.http.commands.load(account).await.expect("load");
    assert!(with_snapshot.snapshot_version.is_some());

    let delete = "DELETE FROM snapshots";
    foldbank::db::query(delete)
        .execute(&db.database)
        .await
        .expect("delete snapshots");

    let replayed = app.http.commands.load(account).await.expect("load");
    assert_eq!(replayed.snapshot_version, None);
    assert_same_account(&with_snapshot, &replayed);
}

/// `foldbank snapshots clear` (the real binary) deletes every snapshot, which is always safe:
/// the next load replays the events to the same state.
async fn snapshots_clear_deletes_every_snapshot_and_loads_replay_to_the_same_state(db: TestDb) {
    let app = state(&db);
    let mut before = Vec::new();
    for _ in 0..2 {
        let account = account_with(&app.http.commands, SNAPSHOT_EVERY).await;
        let loaded = app.http.commands.load(account).await.expect("load");
        assert!(loaded.snapshot_version.is_some());
        before.push((account, loaded));
    }
    assert_eq!(snapshot_count(&db).await, 2);

    let status = std::process::Command::new(env!("CARGO_BIN_EXE_foldbank"))
        .args(["snapshots", "clear", "--log", "warn"])
        .args(db.cli_args())
        .status()
        .expect("run foldbank snapshots clear");
    assert!(status.success());

    assert_eq!(snapshot_count(&db).await, 0);
    for (account, with_snapshot) in &before {
        let replayed = app.http.commands.load(*account).await.expect("load");
        assert_eq!(replayed.snapshot_version, None);
        assert_same_account(with_snapshot, &replayed);
    }
}

/// Over HTTP, with snapshots every 5 events: time travel to after the latest snapshot folds
/// from it and the events after it; to before it, from the first event.
async fn the_interval_is_a_setting_and_time_travel_says_which_snapshot_it_folded_from(db: TestDb) {
    let app = TestApp::new(db).await;
    let service = app.service.clone().with_snapshot_interval(5);
    let app = app.with_service(service);
    // Opened with a deposit: versions 1 and 2.
    let account = app.open_account_with(100).await;
    let early = app.clock.now();
    app.clock.advance(chrono::Duration::minutes(1));
    for _ in 0..10 {
        let deposited = app
            .post(
                &format!("/accounts/{account}/deposits"),
                json!({ "amount": 1, "currency": "EUR" }),
            )
            .await;
        assert_eq!(
            deposited.status,
            axum::http::StatusCode::CREATED,
            "{}",
            deposited.text
        );
    }
    // Versions 3 to 12: snapshots at 5 and 10, the latest kept.
    let snapshot = app
        .service
        .store
        .load_snapshot("account", account)
        .await
        .expect("load")
        .expect("a snapshot");
    assert_eq!(snapshot.version, 10);

    let later = (app.clock.now() + chrono::Duration::minutes(1)).to_rfc3339();
    let now = app
        .get(&format!("/accounts/{account}?at={}", later.replace('+', "%2B")))
        .await;
    assert_eq!(now.status, axum::http::StatusCode::OK, "{}", now.text);
    assert_eq!(now.body["balance"], 110);
    assert_eq!(
        now.body["folded"],
        json!({ "from_snapshot_version": 10, "events": 2 })
    );

    let then = early.to_rfc3339();
    let before = app
        .get(&format!("/accounts/{account}?at={}", then.replace('+', "%2B")))
        .await;
    assert_eq!(before.status, axum::http::StatusCode::OK, "{}", before.text);
    assert_eq!(before.body["balance"], 100);
    assert_eq!(
        before.body["folded"],
        json!({ "from_snapshot_version": null, "events": 2 })
    );
}
