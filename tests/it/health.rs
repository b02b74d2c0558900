//! Health checks for orchestrators: liveness, and readiness that names what is wrong.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{TestApp, TestDb, backend_tests};

backend_tests!(
    liveness_answers_without_a_key_or_the_database,
    ready_when_caught_up_and_not_ready_naming_the_follower_held_behind,
    not_ready_while_the_database_lacks_a_migration_of_this_build,
);

async fn liveness_answers_without_a_key_or_the_database(db: TestDb) {
    let app = TestApp::new(db).await.requiring_keys();
    let live = app.get("/health/live").await;
    assert_eq!(live.status, StatusCode::OK, "{}", live.text);
    assert_eq!(live.body, json!({ "status": "ok" }));

    // It touches nothing: with the database closed it still answers, where readiness cannot.
    app.service.database.close().await;
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
    let ready = app.get("/health/ready").await;
    ready.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not-ready");
    assert_eq!(ready.body["reason"], "database-unreachable", "{}", ready.text);
}

async fn ready_when_caught_up_and_not_ready_naming_the_follower_held_behind(db: TestDb) {
    let mut app = TestApp::new(db).await;
    let service = app.service.clone().with_ready_max_lag(3);
    app = app.with_service(service);
    let account = app.open_account_with(1_000).await;
    app.caught_up().await;

    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.body["status"], "ready");
    assert!(ready.body["head"].as_i64().is_some_and(|head| head >= 2));
    assert_eq!(
        app.get("/health").await.status,
        StatusCode::OK,
        "the old check still works"
    );

    // The read models are held behind: every batch fails, and more events arrive than allowed.
    app.stop_projector().await;
    for _ in 0..10 {
        let deposit = app
            .post(
                &format!("/accounts/{account}/deposits"),
                json!({ "amount": 1, "currency": "EUR" }),
            )
            .await;
        assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text);
    }
    // The transfer process manager is not held: let it reach the head first.
    let head = app.service.store.head_position().await.expect("head");
    app.service
        .http
        .followers
        .wait_for(&["transfer_process"], head, std::time::Duration::from_secs(30))
        .await
        .expect("the transfer process manager catches up");
    app.service.faults.fail_batches_after(0);
    app.start_projector_in_background();

    let not_ready = app.get("/health/ready").await;
    not_ready.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not-ready");
    assert_eq!(not_ready.body["reason"], "followers-behind", "{}", not_ready.text);
    let detail = not_ready.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("account_balances is") && detail.contains("events behind the log"),
        "the detail names the follower and how far behind it is: {detail}"
    );
    let behind = not_ready.body["followers"]
        .as_array()
        .and_then(|followers| followers.iter().find(|f| f["name"] == "account_balances"))
        .cloned()
        .unwrap_or_else(|| panic!("account_balances is listed: {}", not_ready.text));
    assert!(behind["lag"].as_i64().is_some_and(|lag| lag > 3), "{behind}");
    assert!(
        !not_ready.text.contains("transfer_process"),
        "the transfer process manager is not held behind: {}",
        not_ready.text
    );

    // Released, the projections catch up and the service is ready again.
    app.service.faults.disarm();
    app.caught_up().await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
}

/// The database's migration table lacks this build's newest migration (as when an older build
/// migrated it, or the migration failed half-way): not ready, and the answer names it.
async fn not_ready_while_the_database_lacks_a_migration_of_this_build(db: TestDb) {
    let app = TestApp::new(db).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);

    let newest: i64 = foldbank::db::query("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_scalar(&app.db.database)
        .await
        .expect("the newest migration");
    let forgotten = foldbank::db::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(newest);
    assert_eq!(
        app.db.database.execute_write(forgotten).await.expect("forget it"),
        1
    );

    let not_ready = app.get("/health/ready").await;
    not_ready.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "not-ready");
    assert_eq!(
        not_ready.body["reason"], "migrations-missing",
        "{}",
        not_ready.text
    );
    assert_eq!(
        not_ready.body["missing_migrations"],
        serde_json::json!([newest]),
        "{}",
        not_ready.text
    );
    // Alive all the same: an orchestrator should not restart it for this.
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
}
