//! Statements written once run on both backends: every parameter type, with and without a
//! value, reads back as it was bound.

use chrono::{DateTime, TimeZone, Utc};
use foldbank::db::{Backend, Stored, query};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{TestDb, backend_tests};

backend_tests!(
    every_parameter_type_reads_back_as_bound_with_and_without_a_value,
    integers_wider_than_bigint_read_back_exactly,
);

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Row {
    id: i64,
    number: Option<i64>,
    small: Option<i32>,
    flag: Option<bool>,
    text: Option<String>,
    #[sqlx(try_from = "Stored<Option<Uuid>>")]
    uuid: Option<Uuid>,
    #[sqlx(try_from = "Stored<Option<DateTime<Utc>>>")]
    at: Option<DateTime<Utc>>,
    #[sqlx(json)]
    document: Value,
}

async fn every_parameter_type_reads_back_as_bound_with_and_without_a_value(db: TestDb) {
    let (uuid, time, json) = match db.database.backend() {
        Backend::Postgres => ("UUID", "TIMESTAMPTZ", "JSONB"),
        Backend::Sqlite => ("TEXT", "TEXT", "TEXT"),
    };
    query(format!(
        "CREATE TABLE round_trip (id BIGINT PRIMARY KEY, number BIGINT, small INTEGER, flag BOOLEAN, \
         text TEXT, uuid {uuid}, at {time}, document {json} NOT NULL)"
    ))
    .execute(&db.database)
    .await
    .expect("create table");

    let full = Row {
        id: 1,
        number: Some(i64::MIN),
        small: Some(-7),
        flag: Some(true),
        text: Some("naïve 'quoted'".into()),
        uuid: Some(Uuid::now_v7()),
        at: Some(
            Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0)
                .single()
                .expect("valid"),
        ),
        document: json!({ "amount": 2500, "nested": [1, 2] }),
    };
    // Every nullable column NULL: a NULL must not shift the parameters after it.
    let empty = Row {
        id: 2,
        number: None,
        small: None,
        flag: None,
        text: None,
        uuid: None,
        at: None,
        document: json!(null),
    };
    for row in [&full, &empty] {
        query("INSERT INTO round_trip (id, number, small, flag, text, uuid, at, document) VALUES ")
            .push("(")
            .push_bind(row.id)
            .push(", ")
            .push_bind(row.number)
            .push(", ")
            .push_bind(row.small)
            .push(", ")
            .push_bind(row.flag)
            .push(", ")
            .push_bind(row.text.clone())
            .push(", ")
            .push_bind(row.uuid)
            .push(", ")
            .push_bind(row.at)
            .push(", ")
            .push_bind(&row.document)
            .push(")")
            .execute(&db.database)
            .await
            .expect("insert");
    }

    let read: Vec<Row> = query("SELECT * FROM round_trip ORDER BY id")
        .fetch_all(&db.database)
        .await
        .expect("select");
    assert_eq!(read, vec![full, empty]);
    let count: i64 = query("SELECT COUNT(*) FROM round_trip WHERE uuid IS NULL AND at IS NULL")
        .fetch_scalar(&db.database)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct Wide {
    id: i64,
    #[sqlx(try_from = "Stored<i128>")]
    value: i128,
}

/// `NUMERIC` on PostgreSQL, decimal text on SQLite: bound as `i128`, read as text, exact at
/// both ends of the range and across the base-10,000 digits PostgreSQL stores.
async fn integers_wider_than_bigint_read_back_exactly(db: TestDb) {
    let column = match db.database.backend() {
        Backend::Postgres => "NUMERIC(39, 0)",
        Backend::Sqlite => "TEXT",
    };
    query(format!(
        "CREATE TABLE wide (id BIGINT PRIMARY KEY, value {column} NOT NULL)"
    ))
    .execute(&db.database)
    .await
    .expect("create table");
    let values = [
        0,
        1,
        -1,
        9_999,
        10_000,
        -100_000_000,
        i128::from(i64::MAX) + 1,
        2 * i128::from(i64::MIN),
        i128::MAX,
        i128::MIN,
    ];
    let rows = values
        .iter()
        .zip(1_i64..)
        .map(|(value, id)| Wide { id, value: *value });
    for row in rows {
        query("INSERT INTO wide (id, value) VALUES ($1, $2)")
            .bind(row.id)
            .bind(row.value)
            .execute(&db.database)
            .await
            .expect("insert");
    }
    let read: Vec<Wide> = query("SELECT id, CAST(value AS TEXT) AS value FROM wide ORDER BY id")
        .fetch_all(&db.database)
        .await
        .expect("select");
    let read: Vec<i128> = read.into_iter().map(|row| row.value).collect();
    assert_eq!(read, values);
}
