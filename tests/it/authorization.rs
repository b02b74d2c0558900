//! Who may do what: API keys, owners who see only their own accounts, operator-only endpoints,
//! the audit of which key did what, and the rate limit per caller.

use axum::http::{Method, StatusCode};
use foldbank::auth::Role;
use foldbank::clock::Clock;
use foldbank::domain::ids::OwnerId;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{Server, TestApp, TestDb, TestResponse, backend_tests, free_port, run_foldbank};

backend_tests!(
    every_endpoint_answers_each_kind_of_caller_as_documented,
    a_key_that_is_missing_malformed_unknown_or_revoked_is_answered_401,
    a_customer_lists_only_its_owners_accounts_and_opens_accounts_only_for_it,
    a_transfer_leaves_only_the_callers_account_and_may_go_to_any,
    the_audit_trail_names_the_key_behind_each_event,
    the_rate_limit_answers_429_per_caller_and_recovers,
    a_key_revoked_with_the_cli_stops_working_in_a_running_server,
    a_public_address_without_any_key_is_refused_at_start,
    a_bank_freeze_is_lifted_by_an_operator_only_and_old_freezes_are_the_banks,
);

/// The callers of the matrix, in the order of its expected statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoKey,
    Revoked,
    Owner,
    OtherOwner,
    Operator,
}

const EVERYONE: [Who; 5] = [
    Who::NoKey,
    Who::Revoked,
    Who::Owner,
    Who::OtherOwner,
    Who::Operator,
];

/// Every endpoint, as the matrix calls it.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    ListAccounts,
    OpenAccount,
    Account,
    Balance,
    BalanceAt,
    Transactions,
    Events,
    AccountTransfers,
    Deposit,
    Withdraw,
    Freeze,
    Unfreeze,
    Close,
    Reverse,
    Transfer,
    TransferStatus,
    LedgerSummary,
    Projections,
    Health,
    OpenApiDocument,
}

impl Endpoint {
    const ALL: [Endpoint; 20] = [
        Endpoint::ListAccounts,
        Endpoint::OpenAccount,
        Endpoint::Account,
        Endpoint::Balance,
        Endpoint::BalanceAt,
        Endpoint::Transactions,
        Endpoint::Events,
        Endpoint::AccountTransfers,
        Endpoint::Deposit,
        Endpoint::Withdraw,
        Endpoint::Freeze,
        Endpoint::Unfreeze,
        Endpoint::Close,
        Endpoint::Reverse,
        Endpoint::Transfer,
        Endpoint::TransferStatus,
        Endpoint::LedgerSummary,
        Endpoint::Projections,
        Endpoint::Health,
        Endpoint::OpenApiDocument,
    ];

    /// The status each of [`EVERYONE`] gets.
    fn expected(self) -> [u16; 5] {
        use Endpoint::*;
        let (owner, other) = match self {
            ListAccounts => (200, 200),
            OpenAccount => (201, 403),
            Account | Balance | BalanceAt | Transactions | Events | AccountTransfers => (200, 404),
            TransferStatus | Freeze | Unfreeze | Close => (200, 404),
            Deposit | Withdraw => (201, 404),
            // The bank's decision: no customer key may make it, whoever owns the account.
            Reverse => return [401, 401, 403, 403, 201],
            Transfer => (202, 404),
            LedgerSummary | Projections => (403, 403),
            Health | OpenApiDocument => return [200; 5],
        };
        let operator = if owner == 403 { 200 } else { owner };
        [401, 401, owner, other, operator]
    }
}

/// Owner A's account and the keys of the matrix, on a service that requires keys.
struct World {
    app: TestApp,
    owner: Uuid,
    /// Owner A's account, with money on it.
    account: Uuid,
    /// An account of owner B: somewhere for A's transfers to go.
    elsewhere: Uuid,
    /// A transfer from `account` to `elsewhere`.
    transfer: Uuid,
    owner_key: String,
    /// A customer key of a third owner, who has nothing to do with A's accounts.
    other_key: String,
    /// A customer key of owner B, who holds `elsewhere`.
    recipient_key: String,
    operator_key: String,
    revoked_key: String,
    owner_key_id: Uuid,
    operator_key_id: Uuid,
}

impl World {
    async fn new(db: TestDb) -> World {
        let app = TestApp::new(db).await.requiring_keys();
        let owner = Uuid::now_v7();
        let recipient = Uuid::now_v7();
        let (operator_key_id, operator_key) = app.create_key(Role::Operator).await;
        let (owner_key_id, owner_key) = app.create_key(Role::Customer(OwnerId(owner))).await;
        let (_, other_key) = app.create_key(Role::Customer(OwnerId(Uuid::now_v7()))).await;
        let (_, recipient_key) = app.create_key(Role::Customer(OwnerId(recipient))).await;
        let (revoked_id, revoked_key) = app.create_key(Role::Customer(OwnerId(owner))).await;
        assert!(
            app.service
                .http
                .keys
                .revoke(revoked_id, app.clock.now())
                .await
                .expect("revoke")
        );
        let mut world = World {
            app,
            owner,
            account: Uuid::nil(),
            elsewhere: Uuid::nil(),
            transfer: Uuid::nil(),
            owner_key,
            other_key,
            recipient_key,
            operator_key,
            revoked_key,
            owner_key_id,
            operator_key_id,
        };
        world.account = world.open_for(owner, 1_000_000).await;
        world.elsewhere = world.open_for(recipient, 0).await;
        let transfer = world
            .operator(
                Method::POST,
                "/transfers",
                Some(
                    json!({ "from_account": world.account, "to_account": world.elsewhere,
                             "amount": 100, "currency": "EUR" }),
                ),
            )
            .await;
        assert_eq!(transfer.status, StatusCode::ACCEPTED, "{}", transfer.text);
        world.transfer = id_in(&transfer.body, "transfer_id");
        world.app.settled().await;
        world
    }

    /// The account's balance, as the operator reads it once the read models caught up.
    async fn balance(&self, account: Uuid) -> i64 {
        self.app.caught_up().await;
        let balance = self
            .operator(Method::GET, &format!("/accounts/{account}/balance"), None)
            .await;
        assert_eq!(balance.status, StatusCode::OK, "{}", balance.text);
        balance.body["balance"].as_i64().expect("balance")
    }

    fn key(&self, who: Who) -> Option<&str> {
        match who {
            Who::NoKey => None,
            Who::Revoked => Some(&self.revoked_key),
            Who::Owner => Some(&self.owner_key),
            Who::OtherOwner => Some(&self.other_key),
            Who::Operator => Some(&self.operator_key),
        }
    }

    async fn operator(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        self.app
            .send_as(Some(&self.operator_key), method, path, body)
            .await
    }

    /// Opens an EUR account for `owner` (as the operator) holding `balance`.
    async fn open_for(&self, owner: Uuid, balance: i64) -> Uuid {
        let mut body = json!({ "owner_id": owner, "currency": "EUR" });
        if balance > 0 {
            body["initial_deposit"] = json!(balance);
        }
        let opened = self.operator(Method::POST, "/accounts", Some(body)).await;
        assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
        id_in(&opened.body, "account_id")
    }

    /// The request `endpoint` is called with, after preparing what it acts on (a fresh account
    /// to freeze or close, a deposit to reverse), and the ids of owner A's records it names.
    async fn request(&self, endpoint: Endpoint) -> (Method, String, Option<Value>, Vec<Uuid>) {
        use Endpoint::*;
        let account = self.account;
        let money = || Some(json!({ "amount": 10, "currency": "EUR" }));
        match endpoint {
            ListAccounts => (Method::GET, "/accounts".into(), None, vec![]),
            OpenAccount => (
                Method::POST,
                "/accounts".into(),
                Some(json!({ "owner_id": self.owner, "currency": "EUR" })),
                vec![],
            ),
            Account => (Method::GET, format!("/accounts/{account}"), None, vec![account]),
            Balance => (
                Method::GET,
                format!("/accounts/{account}/balance"),
                None,
                vec![account],
            ),
            BalanceAt => (
                Method::GET,
                format!("/accounts/{account}/balance?at=2026-03-02T09:30:00Z"),
                None,
                vec![account],
            ),
            Transactions => (
                Method::GET,
                format!("/accounts/{account}/transactions"),
                None,
                vec![account],
            ),
            Events => (
                Method::GET,
                format!("/accounts/{account}/events"),
                None,
                vec![account],
            ),
            AccountTransfers => (
                Method::GET,
                format!("/accounts/{account}/transfers"),
                None,
                vec![account],
            ),
            Deposit => (
                Method::POST,
                format!("/accounts/{account}/deposits"),
                money(),
                vec![account],
            ),
            Withdraw => (
                Method::POST,
                format!("/accounts/{account}/withdrawals"),
                money(),
                vec![account],
            ),
            Freeze => {
                let fresh = self.open_for(self.owner, 0).await;
                (
                    Method::POST,
                    format!("/accounts/{fresh}/freeze"),
                    Some(json!({ "reason": "test" })),
                    vec![fresh],
                )
            }
            Unfreeze => {
                // Frozen by its owner (a lost card): the owner may lift that freeze.
                let fresh = self.open_for(self.owner, 0).await;
                let frozen = self
                    .app
                    .send_as(
                        Some(&self.owner_key),
                        Method::POST,
                        &format!("/accounts/{fresh}/freeze"),
                        Some(json!({ "reason": "card lost" })),
                    )
                    .await;
                assert_eq!(frozen.status, StatusCode::OK, "{}", frozen.text);
                (
                    Method::POST,
                    format!("/accounts/{fresh}/unfreeze"),
                    Some(json!({})),
                    vec![fresh],
                )
            }
            Close => {
                let fresh = self.open_for(self.owner, 0).await;
                (
                    Method::POST,
                    format!("/accounts/{fresh}/close"),
                    Some(json!({})),
                    vec![fresh],
                )
            }
            Reverse => {
                let deposit = self
                    .operator(Method::POST, &format!("/accounts/{account}/deposits"), money())
                    .await;
                assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
                let transaction = id_in(&deposit.body, "transaction_id");
                (
                    Method::POST,
                    format!("/accounts/{account}/transactions/{transaction}/reversal"),
                    Some(json!({})),
                    vec![account, transaction],
                )
            }
            Transfer => (
                Method::POST,
                "/transfers".into(),
                Some(json!({ "from_account": account, "to_account": self.elsewhere,
                             "amount": 1, "currency": "EUR" })),
                vec![account],
            ),
            TransferStatus => (
                Method::GET,
                format!("/transfers/{}", self.transfer),
                None,
                vec![self.transfer],
            ),
            LedgerSummary => (Method::GET, "/ledger/summary".into(), None, vec![]),
            Projections => (Method::GET, "/projections".into(), None, vec![]),
            Health => (Method::GET, "/health".into(), None, vec![]),
            OpenApiDocument => (Method::GET, "/api-docs/openapi.json".into(), None, vec![]),
        }
    }
}

fn id_in(body: &Value, field: &str) -> Uuid {
    body[field]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

/// `text` with each of `ids` replaced by a placeholder.
fn without_ids(text: &str, ids: &[Uuid]) -> String {
    ids.iter()
        .fold(text.to_owned(), |text, id| text.replace(&id.to_string(), "<id>"))
}

async fn every_endpoint_answers_each_kind_of_caller_as_documented(db: TestDb) {
    let world = World::new(db).await;
    for endpoint in Endpoint::ALL {
        for (who, expected) in EVERYONE.into_iter().zip(endpoint.expected()) {
            let (method, path, body, named) = world.request(endpoint).await;
            let response = world
                .app
                .send_as(world.key(who), method.clone(), &path, body.clone())
                .await;
            assert_eq!(
                response.status.as_u16(),
                expected,
                "{endpoint:?} as {who:?}: {}",
                response.text
            );
            if expected >= 400 {
                let slug = match expected {
                    401 => "unauthorized",
                    403 => "forbidden",
                    _ => "account-not-found",
                };
                let slug = if endpoint_is_transfer_status(endpoint) && expected == 404 {
                    "transfer-not-found"
                } else {
                    slug
                };
                response.assert_problem(response.status, slug);
            }
            if who != Who::OtherOwner {
                continue;
            }
            // Nothing of owner A's reaches owner B: not its id, not its account, ...
            for secret in [world.owner, world.account] {
                let visible = without_ids(&response.text, &named);
                assert!(
                    !visible.contains(&secret.to_string()),
                    "{endpoint:?} showed another owner's data: {}",
                    response.text
                );
            }
            // ... and where B is told "not found", a record that does not exist gets the
            // very same answer: B cannot even learn that A's exists.
            if expected == 404 {
                let invented: Vec<Uuid> = named.iter().map(|_| Uuid::now_v7()).collect();
                let twin_path = named
                    .iter()
                    .zip(&invented)
                    .fold(path.clone(), |path, (real, fake)| {
                        path.replace(&real.to_string(), &fake.to_string())
                    });
                let twin_body = body.as_ref().map(|body| {
                    let text = named
                        .iter()
                        .zip(&invented)
                        .fold(body.to_string(), |text, (real, fake)| {
                            text.replace(&real.to_string(), &fake.to_string())
                        });
                    serde_json::from_str(&text).expect("json")
                });
                let twin = world
                    .app
                    .send_as(world.key(who), method, &twin_path, twin_body)
                    .await;
                assert_eq!(twin.status, response.status, "{endpoint:?}: {}", twin.text);
                assert_eq!(
                    without_ids(&twin.text, &invented),
                    without_ids(&response.text, &named),
                    "{endpoint:?}: another owner's record and a missing one answer alike"
                );
            }
        }
    }
}

fn endpoint_is_transfer_status(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::TransferStatus)
}

async fn a_key_that_is_missing_malformed_unknown_or_revoked_is_answered_401(db: TestDb) {
    let world = World::new(db).await;
    let unknown = format!("fbk_{}_{}", Uuid::now_v7().simple(), "ab".repeat(32));
    // Right id, wrong secret: as unknown as an id that never existed.
    let forged = format!("{}{}", &world.owner_key[..world.owner_key.len() - 4], "0000");
    let path = format!("/accounts/{}", world.account);
    for authorization in [
        None,
        Some("Basic dXNlcjpwYXNz".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer not-a-key".to_owned()),
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {}", world.revoked_key)),
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .as_deref()
            .map(|value| ("authorization", value))
            .into_iter()
            .collect();
        let response = world
            .app
            .send(Method::GET, &path, &headers, axum::body::Body::empty())
            .await;
        response.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(
            response.header("www-authenticate"),
            Some("Bearer"),
            "{authorization:?}"
        );
    }
    // Unknown and revoked keys are refused with the very same words.
    let unknown_answer = world.app.send_as(Some(&unknown), Method::GET, &path, None).await;
    let revoked_answer = world
        .app
        .send_as(Some(&world.revoked_key), Method::GET, &path, None)
        .await;
    assert_eq!(unknown_answer.body["detail"], revoked_answer.body["detail"]);
}

async fn a_customer_lists_only_its_owners_accounts_and_opens_accounts_only_for_it(db: TestDb) {
    let world = World::new(db).await;
    let second = world.open_for(world.owner, 5).await;
    world.app.caught_up().await;

    let listed = world
        .app
        .send_as(Some(&world.owner_key), Method::GET, "/accounts?limit=100", None)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let mut ids: Vec<Uuid> = listed.body["items"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|account| id_in(account, "account_id"))
        .collect();
    ids.sort();
    let mut own = vec![world.account, second];
    own.sort();
    assert_eq!(ids, own, "exactly the owner's accounts");

    // Asking for another owner's accounts by filter shows none of them.
    let filtered = world
        .app
        .send_as(
            Some(&world.other_key),
            Method::GET,
            &format!("/accounts?owner_id={}", world.owner),
            None,
        )
        .await;
    assert_eq!(filtered.status, StatusCode::OK, "{}", filtered.text);
    assert!(
        !filtered.text.contains(&world.account.to_string()),
        "{}",
        filtered.text
    );

    let everyone = world
        .app
        .send_as(
            Some(&world.operator_key),
            Method::GET,
            "/accounts?limit=100",
            None,
        )
        .await;
    assert!(
        everyone.text.contains(&world.elsewhere.to_string()),
        "operators see all"
    );

    let refused = world
        .app
        .send_as(
            Some(&world.other_key),
            Method::POST,
            "/accounts",
            Some(json!({ "owner_id": world.owner, "currency": "EUR", "initial_deposit": 1 })),
        )
        .await;
    refused.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    world.app.caught_up().await;
    let after = world
        .app
        .send_as(Some(&world.owner_key), Method::GET, "/accounts?limit=100", None)
        .await;
    assert_eq!(
        after.body["items"].as_array().map(Vec::len),
        Some(2),
        "nothing was opened"
    );
}

async fn a_transfer_leaves_only_the_callers_account_and_may_go_to_any(db: TestDb) {
    let world = World::new(db).await;
    // Owner B sends money to A's account: any destination will do.
    let funded = world
        .app
        .send_as(
            Some(&world.operator_key),
            Method::POST,
            &format!("/accounts/{}/deposits", world.elsewhere),
            Some(json!({ "amount": 500, "currency": "EUR" })),
        )
        .await;
    assert_eq!(funded.status, StatusCode::CREATED, "{}", funded.text);
    let to_a = world
        .app
        .send_as(
            Some(&world.recipient_key),
            Method::POST,
            "/transfers",
            Some(
                json!({ "from_account": world.elsewhere, "to_account": world.account,
                         "amount": 200, "currency": "EUR" }),
            ),
        )
        .await;
    assert_eq!(to_a.status, StatusCode::ACCEPTED, "{}", to_a.text);
    let transfer = id_in(&to_a.body, "transfer_id");

    // But not out of A's account.
    world.app.settled().await;
    let before = world.balance(world.account).await;
    let stolen = world
        .app
        .send_as(
            Some(&world.recipient_key),
            Method::POST,
            "/transfers",
            Some(
                json!({ "from_account": world.account, "to_account": world.elsewhere,
                         "amount": 1000, "currency": "EUR" }),
            ),
        )
        .await;
    stolen.assert_problem(StatusCode::NOT_FOUND, "account-not-found");
    world.app.settled().await;
    assert_eq!(world.balance(world.account).await, before);

    // Both ends may follow the transfer; nobody else.
    for (key, expected) in [
        (&world.recipient_key, StatusCode::OK),
        (&world.owner_key, StatusCode::OK),
    ] {
        let status = world
            .app
            .send_as(Some(key), Method::GET, &format!("/transfers/{transfer}"), None)
            .await;
        assert_eq!(status.status, expected, "{}", status.text);
    }
    let (_, stranger) = world
        .app
        .create_key(Role::Customer(OwnerId(Uuid::now_v7())))
        .await;
    world
        .app
        .send_as(
            Some(&stranger),
            Method::GET,
            &format!("/transfers/{transfer}"),
            None,
        )
        .await
        .assert_problem(StatusCode::NOT_FOUND, "transfer-not-found");
}

async fn the_audit_trail_names_the_key_behind_each_event(db: TestDb) {
    let world = World::new(db).await;
    let deposit = world
        .app
        .send_as(
            Some(&world.owner_key),
            Method::POST,
            &format!("/accounts/{}/deposits", world.account),
            Some(json!({ "amount": 42, "currency": "EUR" })),
        )
        .await;
    assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
    let events = world
        .app
        .send_as(
            Some(&world.owner_key),
            Method::GET,
            &format!("/accounts/{}/events?limit=100", world.account),
            None,
        )
        .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    let events = events.body["events"].as_array().expect("events").clone();
    let opened = &events[0];
    assert_eq!(opened["type"], "AccountOpened");
    assert_eq!(opened["metadata"]["key_id"], world.operator_key_id.to_string());
    let last = events.last().expect("events");
    assert_eq!(last["type"], "MoneyDeposited");
    assert_eq!(last["data"]["amount"], 42);
    assert_eq!(last["metadata"]["key_id"], world.owner_key_id.to_string());
    // The key itself is never recorded.
    let secret = world.owner_key.rsplit('_').next().expect("secret");
    assert!(!serde_json::to_string(&events).expect("json").contains(secret));
}

async fn the_rate_limit_answers_429_per_caller_and_recovers(db: TestDb) {
    use foldbank::app::HttpSettings;
    use foldbank::http::RateLimit;

    let world = World::new(db).await;
    let settings = HttpSettings {
        rate_limit: RateLimit {
            per_second: 1,
            burst: 3,
        },
        ..HttpSettings::default()
    };
    let app = world.app.with_http(settings);
    let path = "/accounts?limit=1";
    let as_owner = async |app: &TestApp| app.send_as(Some(&world.owner_key), Method::GET, path, None).await;
    for _ in 0..3 {
        let response = as_owner(&app).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    }
    let limited = as_owner(&app).await;
    limited.assert_problem(StatusCode::TOO_MANY_REQUESTS, "too-many-requests");
    let retry_after: u64 = limited
        .header("retry-after")
        .and_then(|value| value.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1, "Retry-After: {retry_after}");

    // Each key has its own bucket: the operator is not held back by a customer.
    let operator = app
        .send_as(Some(&world.operator_key), Method::GET, path, None)
        .await;
    assert_eq!(operator.status, StatusCode::OK, "{}", operator.text);

    // Waiting as told is enough.
    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    let recovered = as_owner(&app).await;
    assert_eq!(recovered.status, StatusCode::OK, "{}", recovered.text);
}

async fn a_key_revoked_with_the_cli_stops_working_in_a_running_server(db: TestDb) {
    let created = run_foldbank(&db, &["keys", "create", "--operator", "--label", "ci"]).await;
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let key = String::from_utf8(created.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert!(key.starts_with("fbk_"), "{key}");
    let key_id = key.split('_').nth(1).expect("key id").to_owned();

    let server = Server::start(&db, free_port()).await;
    let client = reqwest::Client::new();
    let projections = async || {
        client
            .get(server.url("/projections"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("request")
    };
    assert_eq!(projections().await.status(), reqwest::StatusCode::OK);
    let anonymous = client.get(server.url("/accounts")).send().await.expect("request");
    assert_eq!(
        anonymous.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "keys exist, so keys are required"
    );

    let listed = run_foldbank(&db, &["keys", "list"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    let key_uuid: Uuid = key_id.parse().expect("key id is a UUID");
    assert!(listed.contains(&key_uuid.to_string()), "{listed}");
    assert!(!listed.contains(&key), "the list never shows a key: {listed}");

    let revoked = run_foldbank(&db, &["keys", "revoke", &key_uuid.to_string()]).await;
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let refused = projections().await;
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
}

async fn a_public_address_without_any_key_is_refused_at_start(db: TestDb) {
    let bind = format!("0.0.0.0:{}", free_port());
    let refused = run_foldbank(&db, &["--bind", &bind]).await;
    assert!(!refused.status.success(), "it must not start");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(said.contains("no API key exists"), "{said}");
    assert!(said.contains("foldbank keys create --operator"), "{said}");
}

/// A customer may freeze its own account and lift its own freeze; a freeze the bank imposed
/// (an operator's, or any recorded before freezes named who froze) only an operator lifts.
async fn a_bank_freeze_is_lifted_by_an_operator_only_and_old_freezes_are_the_banks(db: TestDb) {
    let world = World::new(db).await;
    let account = world.open_for(world.owner, 100).await;
    let as_owner = |path: String, body: Value| {
        let world = &world;
        async move {
            world
                .app
                .send_as(Some(&world.owner_key), Method::POST, &path, Some(body))
                .await
        }
    };
    let status_of = |account: Uuid| {
        let world = &world;
        async move {
            world.app.caught_up().await;
            let view = world
                .operator(Method::GET, &format!("/accounts/{account}"), None)
                .await;
            (view.body["status"].clone(), view.body["frozen_by"].clone())
        }
    };

    let banked = world
        .operator(
            Method::POST,
            &format!("/accounts/{account}/freeze"),
            Some(json!({ "reason": "fraud check" })),
        )
        .await;
    assert_eq!(banked.status, StatusCode::OK, "{}", banked.text);
    assert_eq!(status_of(account).await, (json!("frozen"), json!("bank")));
    as_owner(format!("/accounts/{account}/unfreeze"), json!({}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "frozen-by-bank");
    let lifted = world
        .operator(
            Method::POST,
            &format!("/accounts/{account}/unfreeze"),
            Some(json!({})),
        )
        .await;
    assert_eq!(lifted.status, StatusCode::OK, "{}", lifted.text);

    let own = as_owner(
        format!("/accounts/{account}/freeze"),
        json!({ "reason": "card lost" }),
    )
    .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text);
    assert_eq!(status_of(account).await, (json!("frozen"), json!("owner")));
    let unfrozen = as_owner(format!("/accounts/{account}/unfreeze"), json!({})).await;
    assert_eq!(unfrozen.status, StatusCode::OK, "{}", unfrozen.text);
    assert_eq!(status_of(account).await, (json!("active"), Value::Null));

    // A freeze recorded as schema version 1 (which did not say who froze) is the bank's.
    let old = world.open_for(world.owner, 0).await;
    let version = world
        .app
        .service
        .store
        .read_stream("account", old, None)
        .await
        .expect("read")
        .len();
    let v1 = foldbank::store::NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "AccountFrozen".into(),
        schema_version: 1,
        payload: json!({ "reason": "court order", "occurred_at": world.app.clock.now() }),
        metadata: json!({}),
        occurred_at: world.app.clock.now(),
    };
    world
        .app
        .service
        .store
        .append(foldbank::store::Append::new(
            "account",
            old,
            version as i64,
            vec![v1],
        ))
        .await
        .expect("append a version 1 freeze");
    assert_eq!(status_of(old).await, (json!("frozen"), json!("bank")));
    as_owner(format!("/accounts/{old}/unfreeze"), json!({}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "frozen-by-bank");
    // And reversals are the bank's too.
    let deposit = as_owner(
        format!("/accounts/{account}/deposits"),
        json!({ "amount": 5, "currency": "EUR" }),
    )
    .await;
    let transaction = id_in(&deposit.body, "transaction_id");
    as_owner(
        format!("/accounts/{account}/transactions/{transaction}/reversal"),
        json!({}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}
