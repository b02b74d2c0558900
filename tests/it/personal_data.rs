//! Personal data sealed per owner and erased by deleting the owner's key: nothing personal is
//! stored in the clear, every endpoint answers it opened, and after an erasure it reads `null`
//! everywhere while the books stay exactly as they were.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use foldbank::auth::Role;
use foldbank::clock::Clock;
use foldbank::domain::ids::OwnerId;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{
    Server, TestApp, TestDb, TestResponse, backend_tests, free_port, run_foldbank, run_foldbank_bare,
};

backend_tests!(
    personal_fields_are_stored_only_sealed_and_answered_in_the_clear,
    an_erased_owners_personal_fields_read_null_and_the_books_stay_as_they_were,
    only_an_operator_erases_and_the_cli_erases_as_the_endpoint_does,
    an_erasure_racing_with_the_owners_commands_leaves_nothing_readable_and_loses_no_movement,
    after_a_rotation_everything_reads_with_the_new_master_key_alone,
);

/// A text no database holds by chance.
fn marker(what: &str) -> String {
    format!("fbmark-{what}-{}", Uuid::new_v4().simple())
}

/// Every byte of the test's databases: the SQLite files with their write-ahead logs, or a
/// `pg_dump` of each PostgreSQL database.
fn stored_bytes(db: &TestDb) -> Vec<u8> {
    let mut bytes = Vec::new();
    for url in std::iter::once(db.url()).chain(db.read_url()) {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let file = rest.split('?').next().expect("a path");
            for path in [file.to_owned(), format!("{file}-wal")] {
                bytes.extend(std::fs::read(&path).unwrap_or_default());
            }
        } else {
            let dump = std::process::Command::new("pg_dump")
                .arg(&url)
                .output()
                .expect("run pg_dump");
            assert!(
                dump.status.success(),
                "pg_dump: {}",
                String::from_utf8_lossy(&dump.stderr)
            );
            bytes.extend(dump.stdout);
        }
    }
    bytes
}

#[track_caller]
fn assert_nowhere_in_the_clear(db: &TestDb, markers: &[String]) {
    let bytes = stored_bytes(db);
    assert!(
        bytes.len() > 10_000,
        "the databases were read ({} bytes)",
        bytes.len()
    );
    for marker in markers {
        assert!(
            memchr::memmem::find(&bytes, marker.as_bytes()).is_none(),
            "{marker} is stored in the clear"
        );
    }
}

/// Opens an account of `owner` holding `balance`, in the name of `holder`.
async fn open_named(app: &TestApp, owner: Uuid, balance: i64, holder: &str) -> Uuid {
    app.open_account(json!({ "owner_id": owner, "initial_deposit": balance, "holder_name": holder }))
        .await
}

/// Opens an account of `owner` holding `balance`.
async fn open(app: &TestApp, owner: Uuid, balance: i64) -> Uuid {
    let mut terms = json!({ "owner_id": owner });
    if balance > 0 {
        terms["initial_deposit"] = json!(balance);
    }
    app.open_account(terms).await
}

#[track_caller]
fn succeeded(response: &TestResponse) -> &TestResponse {
    assert!(response.status.is_success(), "{}", response.text);
    response
}

/// What the owner's personal fields look like on every endpoint that shows them.
struct Shown {
    account: Value,
    transactions: Value,
    holds: Value,
    transfer: Value,
    events: Vec<Value>,
}

async fn shown(app: &TestApp, account: Uuid, transfer: &str) -> Shown {
    Shown {
        account: app.get(&format!("/accounts/{account}")).await.body,
        transactions: app
            .get(&format!("/accounts/{account}/transactions?limit=100"))
            .await
            .body,
        holds: app.get(&format!("/accounts/{account}/holds")).await.body,
        transfer: app.get(&format!("/transfers/{transfer}")).await.body,
        events: app.events(account).await,
    }
}

/// The account's descriptions as its transaction history shows them, oldest first.
fn descriptions(transactions: &Value) -> Vec<Value> {
    let mut items: Vec<Value> = transactions["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["description"].clone())
        .collect();
    items.reverse();
    items
}

/// A history with every kind of personal field: an opening, a described deposit, a described
/// withdrawal, a described hold, a described transfer to `to`, then a freeze with a reason.
/// Answers the markers used and the transfer's id.
async fn personal_history(app: &TestApp, account: Uuid, to: Uuid) -> (Vec<String>, String) {
    let markers: Vec<String> = ["deposit", "withdrawal", "hold", "transfer", "freeze"]
        .into_iter()
        .map(marker)
        .collect();
    succeeded(
        &app.post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 500, "currency": "EUR", "description": markers[0] }),
        )
        .await,
    );
    succeeded(
        &app.post(
            &format!("/accounts/{account}/withdrawals"),
            json!({ "amount": 100, "currency": "EUR", "description": markers[1] }),
        )
        .await,
    );
    succeeded(
        &app.post(
            &format!("/accounts/{account}/holds"),
            json!({ "amount": 50, "currency": "EUR", "expires_in_secs": 3600, "description": markers[2] }),
        )
        .await,
    );
    let sent = app
        .post(
            "/transfers",
            json!({ "from_account": account, "to_account": to, "amount": 25, "currency": "EUR", "description": markers[3] }),
        )
        .await;
    let transfer = succeeded(&sent).body["transfer_id"]
        .as_str()
        .expect("transfer_id")
        .to_owned();
    app.settled().await;
    succeeded(
        &app.post(
            &format!("/accounts/{account}/freeze"),
            json!({ "reason": markers[4] }),
        )
        .await,
    );
    app.settled().await;
    (markers, transfer)
}

async fn personal_fields_are_stored_only_sealed_and_answered_in_the_clear(db: TestDb) {
    let app = TestApp::new(db).await;
    let (owner, payee) = (Uuid::now_v7(), Uuid::now_v7());
    let (opening_name, new_name) = (marker("opening-name"), marker("new-name"));
    let account = open_named(&app, owner, 1_000, &opening_name).await;
    let to = open(&app, payee, 0).await;
    let opened = app.get(&format!("/accounts/{account}?min_position=2")).await;
    assert_eq!(
        opened.body["holder_name"],
        opening_name.as_str(),
        "{}",
        opened.text
    );
    let (mut markers, transfer) = personal_history(&app, account, to).await;
    let renamed = app
        .post(
            &format!("/accounts/{account}/holder-name"),
            json!({ "holder_name": new_name }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    app.settled().await;

    let shown = shown(&app, account, &transfer).await;
    assert_eq!(
        shown.account["holder_name"],
        new_name.as_str(),
        "{}",
        shown.account
    );
    let names: Vec<&Value> = shown
        .events
        .iter()
        .filter_map(|event| event["data"].get("holder_name"))
        .collect();
    assert_eq!(names, [&json!(opening_name), &json!(new_name)]);
    assert_eq!(shown.account["frozen_reason"], markers[4], "{}", shown.account);
    assert_eq!(
        descriptions(&shown.transactions),
        vec![
            Value::Null,
            json!(markers[0]),
            json!(markers[1]),
            json!(markers[3])
        ],
        "{}",
        shown.transactions
    );
    assert_eq!(
        shown.holds["items"][0]["description"], markers[2],
        "{}",
        shown.holds
    );
    assert_eq!(shown.transfer["description"], markers[3], "{}", shown.transfer);
    let received = app.get(&format!("/accounts/{to}/transactions")).await.body;
    assert_eq!(received["items"][0]["description"], markers[3], "{received}");
    let in_events: Vec<&Value> = shown
        .events
        .iter()
        .filter_map(|event| event["data"].get("description").or(event["data"].get("reason")))
        .filter(|text| !text.is_null())
        .collect();
    let expected: Vec<Value> = markers.iter().map(|marker| json!(marker)).collect();
    assert_eq!(in_events, expected.iter().collect::<Vec<_>>());
    let feed = app.get("/events?limit=500").await;
    assert_eq!(feed.status, StatusCode::OK, "{}", feed.text);
    for marker in &markers {
        assert!(feed.text.contains(marker.as_str()), "{marker} in the feed");
    }
    for event in &shown.events {
        assert!(
            event.get("personal_data").is_none() && event["data"].get("personal_data").is_none(),
            "{event}"
        );
    }

    // A sealed field sent back anywhere but in a personal field (here as a request id, which
    // the payee's events record) is shown as it was sent, never opened for the sender.
    let owners_key = app
        .service
        .http
        .keyring
        .sealing_key(owner, app.clock.now())
        .await
        .expect("the owner's key");
    let stolen = owners_key.seal("secret").to_string();
    let replayed = app
        .post_with(
            &format!("/accounts/{to}/deposits"),
            &[("x-request-id", &stolen)],
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;
    assert_eq!(replayed.status, StatusCode::CREATED, "{}", replayed.text);
    let payees_events = app.events(to).await;
    let last = payees_events.last().expect("the deposit");
    assert_eq!(last["metadata"]["correlation_id"], stolen.as_str(), "{last}");

    // Stored: sealed for the owner, never in the clear.
    markers.extend([opening_name, new_name]);
    assert_nowhere_in_the_clear(&app.db, &markers);
    let sealed_for_owner = format!("pd1:{owner}:");
    assert!(
        memchr::memmem::find(&stored_bytes(&app.db), sealed_for_owner.as_bytes()).is_some(),
        "the fields are stored sealed for their owner"
    );
}

async fn an_erased_owners_personal_fields_read_null_and_the_books_stay_as_they_were(db: TestDb) {
    let app = TestApp::new(db).await;
    let (owner, payee) = (Uuid::now_v7(), Uuid::now_v7());
    let holder = marker("holder");
    let account = open_named(&app, owner, 1_000, &holder).await;
    let to = open(&app, payee, 0).await;
    let payees_own = marker("payee");
    succeeded(
        &app.post(
            &format!("/accounts/{to}/deposits"),
            json!({ "amount": 7, "currency": "EUR", "description": payees_own }),
        )
        .await,
    );
    // Answered before the erasure, replayed after it.
    let keyed = json!({ "amount": 3, "currency": "EUR", "description": marker("keyed") });
    let keyed_path = format!("/accounts/{account}/deposits");
    let first = app
        .post_with(
            &keyed_path,
            &[("idempotency-key", "before-the-erasure")],
            keyed.clone(),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let (mut markers, transfer) = personal_history(&app, account, to).await;
    markers.extend([
        payees_own.clone(),
        keyed["description"].as_str().expect("text").to_owned(),
        holder,
    ]);
    let ledger_before = app.get("/ledger/summary").await.body;
    let balances_before = (
        app.get(&format!("/accounts/{account}")).await.body["balance"].clone(),
        app.get(&format!("/accounts/{to}")).await.body["balance"].clone(),
    );

    let erased = app.post(&format!("/owners/{owner}/erasure"), json!({})).await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.text);
    assert_eq!(erased.body["owner_id"], json!(owner));
    assert_eq!(erased.body["already_erased"], false);
    let again = app.post(&format!("/owners/{owner}/erasure"), json!({})).await;
    assert_eq!(again.body["already_erased"], true, "{}", again.text);
    assert_eq!(again.body["erased_at"], erased.body["erased_at"]);

    let after = shown(&app, account, &transfer).await;
    assert_eq!(after.account["frozen_reason"], Value::Null, "{}", after.account);
    assert_eq!(after.account["holder_name"], Value::Null, "{}", after.account);
    assert_eq!(after.account["personal_data"], "erased", "{}", after.account);
    assert_eq!(after.account["status"], "frozen");
    for item in after.transactions["items"].as_array().expect("items") {
        assert_eq!(item["description"], Value::Null, "{item}");
    }
    let described: Vec<&Value> = after.transactions["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| item.get("personal_data").is_some())
        .collect();
    assert_eq!(
        described.len(),
        4,
        "the keyed deposit, the deposit, the withdrawal, the transfer: {}",
        after.transactions
    );
    assert_eq!(
        after.holds["items"][0]["description"],
        Value::Null,
        "{}",
        after.holds
    );
    assert_eq!(after.holds["items"][0]["personal_data"], "erased");
    assert_eq!(after.transfer["description"], Value::Null, "{}", after.transfer);
    assert_eq!(after.transfer["personal_data"], "erased");
    let erased_in_events = after
        .events
        .iter()
        .filter(|event| event["data"]["personal_data"] == "erased")
        .count();
    // The opening (its holder's name), the keyed deposit, the deposit, the withdrawal, the
    // hold, the transfer, the freeze.
    assert_eq!(erased_in_events, 7, "{:?}", after.events);
    // The payee's own text is theirs, and stays; the transfer's description was the payer's.
    let payees = app.get(&format!("/accounts/{to}/transactions")).await.body;
    assert_eq!(payees["items"][0]["description"], Value::Null, "{payees}");
    assert_eq!(payees["items"][1]["description"], payees_own.as_str(), "{payees}");

    // The books: not a minor unit moved.
    assert_eq!(app.get("/ledger/summary").await.body, ledger_before);
    assert_eq!(
        (
            after.account["balance"].clone(),
            app.get(&format!("/accounts/{to}")).await.body["balance"].clone()
        ),
        balances_before
    );

    // Nothing new of theirs is sealed; money still moves; an answered request is answered again.
    succeeded(
        &app.post(
            &format!("/accounts/{to}/deposits"),
            json!({ "amount": 1, "currency": "EUR", "description": "to a payee not erased" }),
        )
        .await,
    );
    let unfrozen = app
        .post(&format!("/accounts/{account}/unfreeze"), json!({}))
        .await;
    succeeded(&unfrozen);
    let refused = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 1, "currency": "EUR", "description": "anything" }),
        )
        .await;
    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "personal-data-erased");
    assert_eq!(refused.body["owner_id"], json!(owner));
    let plain = app
        .post(
            &format!("/accounts/{account}/deposits"),
            json!({ "amount": 1, "currency": "EUR" }),
        )
        .await;
    assert_eq!(plain.status, StatusCode::CREATED, "{}", plain.text);
    let replayed = app
        .post_with(&keyed_path, &[("idempotency-key", "before-the-erasure")], keyed)
        .await;
    assert_eq!(replayed.status, StatusCode::CREATED, "{}", replayed.text);
    assert_eq!(replayed.header("idempotent-replayed"), Some("true"));
    assert_eq!(replayed.body, first.body);
    app.settled().await;

    // The read models still equal the log, and a rebuild writes the same rows.
    let verified = run_foldbank(&app.db, &["verify", "--log", "warn"]).await;
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    // Nothing in the log was rewritten: the hash chain holds from position 1.
    let chain = run_foldbank(&app.db, &["verify", "--chain", "--log", "warn"]).await;
    assert!(
        chain.status.success(),
        "{}",
        String::from_utf8_lossy(&chain.stdout)
    );
    let before_rebuild = shown(&app, account, &transfer).await;
    let rebuilt = run_foldbank(&app.db, &["rebuild", "all", "--log", "warn"]).await;
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let after_rebuild = shown(&app, account, &transfer).await;
    assert_eq!(after_rebuild.account, before_rebuild.account);
    assert_eq!(after_rebuild.transactions, before_rebuild.transactions);
    assert_eq!(after_rebuild.holds, before_rebuild.holds);
    assert_eq!(after_rebuild.transfer, before_rebuild.transfer);
    assert_nowhere_in_the_clear(&app.db, &markers);
}

async fn only_an_operator_erases_and_the_cli_erases_as_the_endpoint_does(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let owner = Uuid::now_v7();
    let (_, operator) = app.create_key(Role::Operator).await;
    let (_, customer) = app.create_key(Role::Customer(OwnerId(owner))).await;
    let opened = app
        .send_as(
            Some(&operator),
            Method::POST,
            "/accounts",
            Some(json!({ "owner_id": owner, "currency": "EUR" })),
        )
        .await;
    let account = succeeded(&opened).body["account_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let deposit = |key: String| {
        let app = &app;
        let account = account.clone();
        async move {
            app.send_as(
                Some(&key),
                Method::POST,
                &format!("/accounts/{account}/deposits"),
                Some(json!({ "amount": 10, "currency": "EUR", "description": "from the owner" })),
            )
            .await
        }
    };
    succeeded(&deposit(customer.clone()).await);
    app.settled().await;
    let history = |key: String| {
        let app = &app;
        let account = account.clone();
        async move {
            app.send_as(
                Some(&key),
                Method::GET,
                &format!("/accounts/{account}/transactions"),
                None,
            )
            .await
        }
    };
    assert_eq!(
        history(customer.clone()).await.body["items"][0]["description"],
        "from the owner"
    );

    let by_customer = app
        .send_as(
            Some(&customer),
            Method::POST,
            &format!("/owners/{owner}/erasure"),
            Some(json!({})),
        )
        .await;
    by_customer.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        history(customer.clone()).await.body["items"][0]["description"],
        "from the owner"
    );

    let erased = run_foldbank(&app.db, &["owners", "erase", &owner.to_string(), "--log", "warn"]).await;
    assert!(
        erased.status.success(),
        "{}",
        String::from_utf8_lossy(&erased.stderr)
    );
    let erased_at = String::from_utf8_lossy(&erased.stdout).trim().to_owned();
    assert!(
        erased_at.parse::<chrono::DateTime<chrono::Utc>>().is_ok(),
        "{erased_at}"
    );
    // The running service sees it at once: it reads the keys for every answer.
    for key in [customer.clone(), operator.clone()] {
        let shown = history(key).await;
        assert_eq!(
            shown.body["items"][0]["description"],
            Value::Null,
            "{}",
            shown.text
        );
        assert_eq!(shown.body["items"][0]["personal_data"], "erased");
    }
    // This process may still seal with the key it cached before another process erased it
    // (for `SEALING_KEY_TTL` at most): such text is as unreadable as the rest.
    let late = deposit(customer.clone()).await;
    if late.status != StatusCode::CREATED {
        late.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "personal-data-erased");
    }
    app.settled().await;
    let shown = history(customer).await;
    for item in shown.body["items"].as_array().expect("items") {
        assert_eq!(item["description"], Value::Null, "{}", shown.text);
    }
    let by_operator = app
        .send_as(
            Some(&operator),
            Method::POST,
            &format!("/owners/{owner}/erasure"),
            Some(json!({})),
        )
        .await;
    assert_eq!(by_operator.status, StatusCode::OK, "{}", by_operator.text);
    assert_eq!(by_operator.body["already_erased"], true);
}

async fn an_erasure_racing_with_the_owners_commands_leaves_nothing_readable_and_loses_no_movement(
    db: TestDb,
) {
    let app = Arc::new(TestApp::new(db).await);
    let owner = Uuid::now_v7();
    let account = open(&app, owner, 0).await;
    let deposits: Vec<_> = (0..24)
        .map(|n| {
            let app = app.clone();
            tokio::spawn(async move {
                app.post(
                    &format!("/accounts/{account}/deposits"),
                    json!({ "amount": 1, "currency": "EUR", "description": format!("deposit {n}") }),
                )
                .await
            })
        })
        .collect();
    tokio::task::yield_now().await;
    let erased = app.post(&format!("/owners/{owner}/erasure"), json!({})).await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.text);
    let mut accepted = 0;
    for deposit in deposits {
        let answer = deposit.await.expect("the deposit's task");
        if answer.status == StatusCode::CREATED {
            accepted += 1;
        } else {
            answer.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "personal-data-erased");
        }
    }
    app.settled().await;
    let account_view = app.get(&format!("/accounts/{account}")).await.body;
    assert_eq!(
        account_view["balance"], accepted,
        "every accepted deposit, and only those: {account_view}"
    );
    let history = app
        .get(&format!("/accounts/{account}/transactions?limit=100"))
        .await
        .body;
    let items = history["items"].as_array().expect("items");
    assert_eq!(items.len() as i64, accepted, "{history}");
    for item in items {
        assert_eq!(item["description"], Value::Null, "{item}");
    }
    for event in app.events(account).await {
        assert!(
            event["data"].get("description").is_none_or(Value::is_null),
            "{event}"
        );
    }
}

/// `foldbank master-key rotate`, as docs/operating.md tells it: restart with the new key and the old
/// one, rotate, restart with the new one alone and destroy the old file; everything still reads.
async fn after_a_rotation_everything_reads_with_the_new_master_key_alone(db: TestDb) {
    let dir = tempfile::tempdir().expect("a directory");
    let path = |name: &str| dir.path().join(name).display().to_string();
    let (old, new) = (path("old.key"), path("new.key"));
    let with = |args: &[&str]| -> Vec<String> { args.iter().map(|arg| (*arg).to_owned()).collect() };
    for file in [&old, &new] {
        let created = run_foldbank_bare(&db, &with(&["master-key", "create", file])).await;
        assert!(
            created.status.success(),
            "{}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    let client = reqwest::Client::new();
    let describe = |server: &Server, owner: Uuid, text: &'static str| {
        let (client, url) = (client.clone(), server.url(""));
        async move {
            let opened: Value = client
                .post(format!("{url}/accounts"))
                .json(&json!({ "owner_id": owner, "currency": "EUR" }))
                .send()
                .await
                .expect("open")
                .json()
                .await
                .expect("json");
            let account = opened["account_id"].as_str().expect("account_id").to_owned();
            let deposited = client
                .post(format!("{url}/accounts/{account}/deposits"))
                .json(&json!({ "amount": 5, "currency": "EUR", "description": text }))
                .send()
                .await
                .expect("deposit");
            assert_eq!(deposited.status(), StatusCode::CREATED);
            account
        }
    };
    let read = |server: &Server, account: String| {
        let (client, url) = (client.clone(), server.url(""));
        async move {
            let history: Value = client
                .get(format!("{url}/accounts/{account}/events"))
                .send()
                .await
                .expect("events")
                .json()
                .await
                .expect("json");
            history["events"][1]["data"]["description"].clone()
        }
    };

    let server = Server::start_bare(&db, free_port(), &with(&["--master-key-file", &old])).await;
    let before = describe(&server, Uuid::now_v7(), "sealed under the old master key").await;
    // A webhook's signing secret, sealed under the old key too.
    let subscribed: Value = client
        .post(server.url("/webhooks"))
        .json(&json!({ "url": "https://ledger.example.com/in", "event_types": ["money.deposited.v1"] }))
        .send()
        .await
        .expect("subscribe")
        .json()
        .await
        .expect("json");
    let webhook: Uuid = subscribed["webhook_id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("webhook_id");
    let secret = subscribed["secret"].as_str().expect("secret").to_owned();
    assert!(server.terminate().await);

    let during = &with(&["--master-key-file", &new, "--previous-master-key-file", &old]);
    let server = Server::start_bare(&db, free_port(), during).await;
    assert_eq!(
        read(&server, before.clone()).await,
        "sealed under the old master key"
    );
    let meanwhile = describe(&server, Uuid::now_v7(), "sealed during the rotation").await;
    let rotate = [
        "master-key",
        "rotate",
        "--master-key-file",
        &new,
        "--previous-master-key-file",
        &old,
    ]
    .map(str::to_owned);
    let rotated = run_foldbank_bare(&db, &rotate).await;
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&rotated.stdout).trim(),
        "1",
        "one key was the old one's"
    );
    assert!(server.terminate().await);

    // The webhook's secret moved to the new key with the data keys, and still opens.
    let new_key = foldbank::privacy::MasterKey::read(std::path::Path::new(&new)).expect("the new key");
    let (stored, master_key_id): (String, Option<String>) = foldbank::db::query(
        "SELECT secret, secret_master_key_id FROM webhook_subscriptions WHERE webhook_id = $1",
    )
    .bind(webhook)
    .fetch_one(&db.database)
    .await
    .expect("the subscription");
    assert_eq!(master_key_id.as_deref(), Some(new_key.id()));
    let keys = foldbank::privacy::MasterKeys::new(std::sync::Arc::new(new_key), None);
    let opened = foldbank::integration::secrets::StoredSecret {
        secret: stored,
        master_key_id,
    }
    .open(&keys, webhook)
    .expect("the secret opens with the new key alone");
    assert_eq!(opened.expose(), secret);

    std::fs::remove_file(&old).expect("the old master key destroyed");
    let server = Server::start_bare(&db, free_port(), &with(&["--master-key-file", &new])).await;
    assert_eq!(read(&server, before).await, "sealed under the old master key");
    assert_eq!(read(&server, meanwhile).await, "sealed during the rotation");
    // Run again, it finds nothing left to do.
    let again = run_foldbank_bare(&db, &rotate).await;
    assert!(
        !again.status.success(),
        "the old key file is gone: {}",
        String::from_utf8_lossy(&again.stderr)
    );
}
