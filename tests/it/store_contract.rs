//! The event store contract, checked on both adapters.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use foldbank::db::{Backend, query};
use foldbank::store::{
    Append, EventStore, IdempotencyRecord, NewEvent, RecordedResponse, StoreError, StoreFaults, StreamAppend,
    event_store, event_store_with_faults,
};
use serde_json::json;
use uuid::Uuid;

use crate::common::{TestDb, backend_tests};

backend_tests!(
    appended_events_are_read_back_in_version_order,
    an_append_at_a_stale_version_conflicts_and_writes_nothing,
    an_empty_append_is_refused,
    the_global_log_is_read_in_position_order_in_batches,
    reading_a_stream_until_an_instant_stops_at_that_instant,
    a_stream_is_read_a_page_at_a_time,
    the_database_rejects_updates_and_deletes_of_events,
    concurrent_appends_get_contiguous_positions_that_a_follower_never_skips,
    appends_that_wait_for_a_commit_share_the_next_one_and_a_conflict_fails_alone,
    an_id_names_one_stream_type_for_good,
    the_streams_table_refuses_a_second_type_for_an_id,
    a_batch_of_two_thousand_keyed_appends_commits_in_one_transaction,
    appends_of_a_batch_the_committer_abandons_are_outcome_unknown,
);

fn event(n: i64) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "Tested".into(),
        schema_version: 1,
        payload: json!({ "n": n }),
        metadata: json!({ "correlation_id": "test" }),
        occurred_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid") + Duration::hours(n),
    }
}

async fn appended_events_are_read_back_in_version_order(db: TestDb) {
    let store = event_store(&db.database);
    let stream = Uuid::now_v7();
    let first = store
        .append(Append::new("test", stream, 0, vec![event(1), event(2)]))
        .await
        .expect("append");
    let second = store
        .append(Append::new("test", stream, 2, vec![event(3)]))
        .await
        .expect("append");

    assert_eq!(
        (first.stream_version, first.first_position, first.last_position),
        (2, 1, 2)
    );
    assert_eq!(
        (second.stream_version, second.first_position, second.last_position),
        (3, 3, 3)
    );
    let read = store.read_stream("test", stream, None).await.expect("read");
    let versions: Vec<i64> = read.iter().map(|e| e.stream_version).collect();
    let payloads: Vec<i64> = read
        .iter()
        .map(|e| e.payload["n"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(payloads, [1, 2, 3]);
    assert_eq!(read[0].stream_type, "test");
    assert_eq!(read[0].metadata, json!({ "correlation_id": "test" }));
    assert_eq!(read[2].occurred_at, event(3).occurred_at);
    assert!(
        store
            .read_stream("test", Uuid::now_v7(), None)
            .await
            .expect("read")
            .is_empty()
    );
}

async fn an_append_at_a_stale_version_conflicts_and_writes_nothing(db: TestDb) {
    let store = event_store(&db.database);
    let stream = Uuid::now_v7();
    store
        .append(Append::new("test", stream, 0, vec![event(1)]))
        .await
        .expect("append");

    let stale = store
        .append(Append::new("test", stream, 0, vec![event(2), event(3)]))
        .await;
    let ahead = store.append(Append::new("test", stream, 5, vec![event(4)])).await;

    assert!(
        matches!(
            stale,
            Err(StoreError::Conflict {
                expected: 0,
                actual: 1,
                ..
            })
        ),
        "{stale:?}"
    );
    assert!(
        matches!(
            ahead,
            Err(StoreError::Conflict {
                expected: 5,
                actual: 1,
                ..
            })
        ),
        "{ahead:?}"
    );
    assert_eq!(
        store.read_stream("test", stream, None).await.expect("read").len(),
        1
    );
    assert_eq!(store.head_position().await.expect("head"), 1);
}

async fn an_empty_append_is_refused(db: TestDb) {
    let store = event_store(&db.database);
    let result = store
        .append(Append::new("test", Uuid::now_v7(), 0, Vec::new()))
        .await;
    assert!(matches!(result, Err(StoreError::EmptyAppend)), "{result:?}");
}

async fn the_global_log_is_read_in_position_order_in_batches(db: TestDb) {
    let store = event_store(&db.database);
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .append(Append::new("test", a, 0, vec![event(1)]))
        .await
        .expect("append");
    store
        .append(Append::new("test", b, 0, vec![event(2), event(3)]))
        .await
        .expect("append");
    store
        .append(Append::new("test", a, 1, vec![event(4)]))
        .await
        .expect("append");

    let first = store.read_all(0, 3).await.expect("read");
    let rest = store.read_all(3, 100).await.expect("read");

    let positions: Vec<i64> = first.iter().chain(&rest).map(|e| e.global_position).collect();
    let streams: Vec<Uuid> = first.iter().chain(&rest).map(|e| e.stream_id).collect();
    assert_eq!(positions, [1, 2, 3, 4]);
    assert_eq!(streams, [a, b, b, a]);
    assert_eq!(store.head_position().await.expect("head"), 4);
}

async fn reading_a_stream_until_an_instant_stops_at_that_instant(db: TestDb) {
    let store = event_store(&db.database);
    let stream = Uuid::now_v7();
    store
        .append(Append::new("test", stream, 0, vec![event(1), event(2), event(3)]))
        .await
        .expect("append");

    let until_second = store
        .read_stream("test", stream, Some(event(2).occurred_at))
        .await
        .expect("read");
    let before_first = store
        .read_stream(
            "test",
            stream,
            Some(event(1).occurred_at - Duration::microseconds(1)),
        )
        .await
        .expect("read");

    assert_eq!(until_second.len(), 2);
    assert!(before_first.is_empty());
}

async fn a_stream_is_read_a_page_at_a_time(db: TestDb) {
    let store = event_store(&db.database);
    let (stream, other) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .append(Append::new("test", stream, 0, (1..=5).map(event).collect()))
        .await
        .expect("append");
    store
        .append(Append::new("test", other, 0, vec![event(9)]))
        .await
        .expect("append");

    let versions = |page: Vec<foldbank::store::RecordedEvent>| -> Vec<i64> {
        page.iter().map(|e| e.stream_version).collect()
    };
    let page = |after, limit| store.read_stream_page("test", stream, after, limit);
    assert_eq!(versions(page(0, 2).await.expect("read")), [1, 2]);
    assert_eq!(versions(page(2, 2).await.expect("read")), [3, 4]);
    assert_eq!(versions(page(4, 2).await.expect("read")), [5]);
    assert!(page(5, 2).await.expect("read").is_empty());
}

async fn the_database_rejects_updates_and_deletes_of_events(db: TestDb) {
    let store = event_store(&db.database);
    let stream = Uuid::now_v7();
    store
        .append(Append::new("test", stream, 0, vec![event(1)]))
        .await
        .expect("append");

    let postgres = db.database.backend() == Backend::Postgres;
    let update = query("UPDATE events SET payload = '{}'")
        .execute(&db.database)
        .await;
    let delete = query("DELETE FROM events").execute(&db.database).await;
    let sneaky_replace = if postgres {
        query(
            "INSERT INTO events SELECT * FROM events ON CONFLICT (global_position) \
             DO UPDATE SET payload = '{}'",
        )
    } else {
        query("INSERT OR REPLACE INTO events SELECT * FROM events")
    }
    .execute(&db.database)
    .await;

    assert!(update.is_err(), "UPDATE must fail: {update:?}");
    assert!(
        sneaky_replace.is_err(),
        "an upsert over an event must fail: {sneaky_replace:?}"
    );
    assert!(delete.is_err(), "DELETE must fail: {delete:?}");
    let read = store.read_stream("test", stream, None).await.expect("read");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].payload, json!({ "n": 1 }));
    if postgres {
        let truncate = query("TRUNCATE events").execute(&db.database).await;
        assert!(truncate.is_err(), "TRUNCATE must fail: {truncate:?}");
    }
}

/// Many writers append at once while a follower repeatedly reads `position > checkpoint`, the
/// way a projector does. Every batch must start right after the checkpoint, and the follower
/// must end up with every position exactly once.
async fn concurrent_appends_get_contiguous_positions_that_a_follower_never_skips(db: TestDb) {
    const WRITERS: i64 = 16;
    const APPENDS_PER_WRITER: i64 = 15;
    let total = WRITERS * APPENDS_PER_WRITER * 2;
    let store: Arc<dyn EventStore> = event_store(&db.database);

    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut checkpoint = 0;
            while checkpoint < total {
                let batch = store.read_all(checkpoint, 50).await.expect("read");
                for event in &batch {
                    assert_eq!(
                        event.global_position,
                        checkpoint + 1,
                        "the follower skipped a position"
                    );
                    checkpoint = event.global_position;
                    seen.push(event.global_position);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = Uuid::now_v7();
                for version in 0..APPENDS_PER_WRITER {
                    store
                        .append(Append::new(
                            "test",
                            stream,
                            version * 2,
                            vec![event(version), event(version)],
                        ))
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), follower)
        .await
        .expect("the follower caught up")
        .expect("follower");

    assert_eq!(seen, (1..=total).collect::<Vec<_>>());
    let all = store.read_all(0, total + 10).await.expect("read");
    for run in all.chunk_by(|a, b| a.stream_id == b.stream_id) {
        assert_eq!(
            run.len() % 2,
            0,
            "the two events of one append are adjacent in the log"
        );
    }
    let mut versions: std::collections::BTreeMap<Uuid, Vec<i64>> = Default::default();
    for event in &all {
        versions
            .entry(event.stream_id)
            .or_default()
            .push(event.stream_version);
    }
    assert_eq!(versions.len() as i64, WRITERS);
    for stream_versions in versions.values() {
        assert_eq!(*stream_versions, (1..=APPENDS_PER_WRITER * 2).collect::<Vec<_>>());
    }
}

/// Group commit: appends that arrive while a commit is in flight are written together in the
/// next transaction (one `recorded_at` for all of them), and each one's expected version is
/// checked on its own: the conflicting ones fail, their batch-mates are written, and positions
/// stay gap-free.
async fn appends_that_wait_for_a_commit_share_the_next_one_and_a_conflict_fails_alone(db: TestDb) {
    let faults = Arc::new(StoreFaults::default());
    let store = event_store_with_faults(&db.database, faults.clone());
    let existing = Uuid::now_v7();
    store
        .append(Append::new("test", existing, 0, vec![event(1)]))
        .await
        .expect("setup");

    // A slow commit holds the committer; everything sent meanwhile waits for the next batch.
    faults.delay_commits(std::time::Duration::from_millis(300));
    let blocker = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append(Append::new("test", Uuid::now_v7(), 0, vec![event(2)]))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let fresh = Uuid::now_v7();
    let stale = Uuid::now_v7();
    let waiting: Vec<(&str, Append)> = vec![
        (
            "clean",
            Append::new("test", existing, 1, vec![event(3), event(4)]),
        ),
        ("clean", Append::new("test", fresh, 0, vec![event(5)])),
        ("conflict", Append::new("test", stale, 5, vec![event(6)])),
        ("clean", Append::new("test", Uuid::now_v7(), 0, vec![event(7)])),
    ];
    let tasks: Vec<_> = waiting
        .into_iter()
        .map(|(expectation, append)| {
            let store = store.clone();
            tokio::spawn(async move { (expectation, store.append(append).await) })
        })
        .collect();
    let blocked = blocker.await.expect("task").expect("the blocker commits");
    faults.delay_commits(std::time::Duration::ZERO);

    let mut written = Vec::new();
    for task in tasks {
        let (expectation, result) = task.await.expect("task");
        match (expectation, result) {
            ("clean", Ok(appended)) => written.push(appended),
            (
                "conflict",
                Err(StoreError::Conflict {
                    expected: 5,
                    actual: 0,
                    ..
                }),
            ) => {}
            (expectation, result) => panic!("a {expectation} append answered {result:?}"),
        }
    }
    assert_eq!(written.len(), 3);

    // Gap-free: the batch continues right after the blocker, in one run of positions.
    written.sort_by_key(|appended| appended.first_position);
    let mut next = blocked.last_position + 1;
    for appended in &written {
        assert_eq!(appended.first_position, next);
        next = appended.last_position + 1;
    }
    let log = store.read_all(blocked.last_position, 100).await.expect("read");
    assert_eq!(
        log.len(),
        4,
        "the three clean appends, and nothing of the conflicting one"
    );
    assert!(
        log.iter().all(|event| event.recorded_at == log[0].recorded_at),
        "one batch, one commit: {:?}",
        log.iter().map(|event| event.recorded_at).collect::<Vec<_>>()
    );
    assert!(
        store
            .read_stream("test", stale, None)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        store
            .read_stream("test", existing, None)
            .await
            .expect("read")
            .len(),
        3
    );
}

async fn an_id_names_one_stream_type_for_good(db: TestDb) {
    let store = event_store(&db.database);
    let id = Uuid::now_v7();
    store
        .append(Append::new("account", id, 0, vec![event(1)]))
        .await
        .expect("the first stream under the id");

    for expected_version in [0, 1] {
        let other = store
            .append(Append::new("transfer", id, expected_version, vec![event(2)]))
            .await;
        assert!(
            matches!(&other, Err(StoreError::IdInUse { existing_type, requested_type, .. })
                if existing_type == "account" && requested_type == "transfer"),
            "at version {expected_version}: {other:?}"
        );
    }
    // One append naming one fresh id as two streams is refused whole.
    let fresh = Uuid::now_v7();
    let twice = Append::new("account", fresh, 0, vec![event(3)]).and(StreamAppend {
        stream_type: "transfer".into(),
        stream_id: fresh,
        expected_version: 0,
        events: vec![event(4)],
    });
    let twice = store.append(twice).await;
    assert!(matches!(twice, Err(StoreError::IdInUse { .. })), "{twice:?}");

    assert!(
        store
            .read_stream("transfer", id, None)
            .await
            .expect("read")
            .is_empty()
    );
    assert_eq!(
        store.read_stream("account", id, None).await.expect("read").len(),
        1
    );
    assert_eq!(
        store.head_position().await.expect("head"),
        1,
        "nothing else was written"
    );
    store
        .append(Append::new("account", id, 1, vec![event(5)]))
        .await
        .expect("its own type goes on");
}

/// Under the append lock the committer refuses a second type; should a bug ever skip that
/// check, the primary key of `streams` refuses the row.
async fn the_streams_table_refuses_a_second_type_for_an_id(db: TestDb) {
    let store = event_store(&db.database);
    let id = Uuid::now_v7();
    store
        .append(Append::new("account", id, 0, vec![event(1)]))
        .await
        .expect("append");
    let again = db
        .database
        .execute_write(
            query("INSERT INTO streams (stream_id, stream_type) VALUES ($1, $2)")
                .bind(id)
                .bind("transfer"),
        )
        .await;
    let error = again.expect_err("a second type for the id");
    assert!(
        error
            .as_database_error()
            .is_some_and(|error| error.is_unique_violation()),
        "{error:?}"
    );
}

fn keyed(scope: &str, key: String) -> Append {
    let record = IdempotencyRecord {
        scope: scope.into(),
        key,
        fingerprint: "f".into(),
        response: Box::new(|appended| RecordedResponse {
            fingerprint: String::new(),
            status: 201,
            body: json!({ "position": appended.last_position }),
            etag: None,
            location: None,
            recorded_at: Utc::now(),
        }),
    };
    Append {
        idempotency: Some(record),
        ..Append::new("test", Uuid::now_v7(), 0, vec![event(1)])
    }
}

/// A statement that grew an expression per key made SQLite refuse a batch of about a
/// thousand keys ("expression tree is too large"); each batch is one transaction whatever its
/// size.
async fn a_batch_of_two_thousand_keyed_appends_commits_in_one_transaction(db: TestDb) {
    const APPENDS: usize = 2_000;
    let faults = Arc::new(StoreFaults::default());
    let store = event_store_with_faults(&db.database, faults.clone());
    faults.delay_commits(std::time::Duration::from_millis(1_500));
    let blocker = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append(Append::new("test", Uuid::now_v7(), 0, vec![event(0)]))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let tasks: Vec<_> = (0..APPENDS)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.append(keyed("batch", format!("key-{n}"))).await })
        })
        .collect();
    // Every append is queued before the blocker's commit returns.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let blocked = blocker.await.expect("task").expect("the blocker commits");
    faults.delay_commits(std::time::Duration::ZERO);
    for task in tasks {
        task.await.expect("task").expect("every keyed append is written");
    }

    let log = store.read_all(blocked.last_position, 5_000).await.expect("read");
    assert_eq!(log.len(), APPENDS);
    let commits: std::collections::HashSet<_> = log.iter().map(|event| event.recorded_at).collect();
    assert_eq!(commits.len(), 1, "one transaction for the whole batch");
    for n in [0, 999, 1_000, APPENDS - 1] {
        let recorded = store
            .recorded_response("batch", &format!("key-{n}"))
            .await
            .expect("read");
        assert!(recorded.is_some(), "the response of key {n} is recorded");
    }
    // The same keys again are answered from the record, in a batch as large.
    let again: Vec<_> = (0..APPENDS)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move { store.append(keyed("batch", format!("key-{n}"))).await })
        })
        .collect();
    for task in again {
        let answer = task.await.expect("task");
        assert!(
            matches!(answer, Err(StoreError::AlreadyAnswered(_))),
            "{answer:?}"
        );
    }
    assert_eq!(
        store.head_position().await.expect("head"),
        blocked.last_position + APPENDS as i64
    );
}

/// The committer's task dying with a batch in hand (after its commit, the worst case) is not
/// "nothing was written": its appends are told the outcome is unknown.
async fn appends_of_a_batch_the_committer_abandons_are_outcome_unknown(db: TestDb) {
    let faults = Arc::new(StoreFaults::default());
    let store = event_store_with_faults(&db.database, faults.clone());
    faults.abandon_next_batch();

    let abandoned = store
        .append(Append::new("test", Uuid::now_v7(), 0, vec![event(1)]))
        .await;
    let error = abandoned.expect_err("no answer");
    assert!(matches!(error, StoreError::Abandoned), "{error:?}");
    assert!(error.outcome_is_unknown());
    assert_eq!(
        store.read_all(0, 10).await.expect("read").len(),
        1,
        "and indeed it was written"
    );
    let after = store
        .append(Append::new("test", Uuid::now_v7(), 0, vec![event(2)]))
        .await;
    assert!(
        matches!(after, Err(StoreError::Closed)),
        "later appends are refused before anything is written: {after:?}"
    );
}
