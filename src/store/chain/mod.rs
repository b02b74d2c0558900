//! The hash chain over the log: tamper evidence for "the event log is the truth".
//!
//! Every event's link is `SHA-256(previous link || canonical bytes of the event)`, the first
//! event's predecessor being 32 zero bytes ([`GENESIS`]). The canonical bytes are the RFC 8785
//! (JSON Canonicalization Scheme) serialization of one fixed object of every column the log
//! stores for the event ([`Chained`]), so that another language can recompute it from a dump
//! of the table or from `GET /events`. A change to any byte of any stored event, a deleted
//! event, or an event moved to another position changes its link and every link after it.
//!
//! The links are computed by the group commit under the log's lock, where positions are
//! assigned in order, and stored in the events' own rows (`events.hash`), written with them; a
//! log that predates the chain gets its links at start-up ([`catch_up`]). The hash covers the
//! columns as stored: an upcaster that reads an old payload differently never touches it.
//! `foldbank verify --chain` ([`verify`]) recomputes every link and names the first position
//! where the log and its chain part ways.
//!
//! What the chain alone does not prove: whoever can write the log can rewrite an event and
//! every link after it, or drop the newest events with their links. Signed checkpoints of the
//! chain's head ([`checkpoint`]), made with a key they do not hold, are what catch that.

pub mod checkpoint;
mod verify;

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::{Database, Param, Transaction, query};
use crate::store::{NewEvent, RecordedEvent, StoreError};

pub use verify::{BadCheckpoint, Break, ChainReport, Forgery, first_break_between, verify};

/// A link of the chain: 32 bytes of SHA-256, written as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Link(pub [u8; 32]);

/// The predecessor of the first event.
pub const GENESIS: Link = Link([0; 32]);

impl Link {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Link> {
        let mut bytes = [0; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Link(bytes))
    }

    /// The link of `event`, which follows `self`.
    pub fn then(&self, event: &Chained<'_>) -> Link {
        self.then_prepared(&event.canonical_bytes())
    }

    /// The link of an event whose canonical bytes are `canonical`, which follows `self`.
    pub fn then_prepared(&self, canonical: &[u8]) -> Link {
        let mut digest = Sha256::new();
        digest.update(self.0);
        digest.update(canonical);
        Link(digest.finalize().into())
    }

    /// A link as `events.hash` stores it, for the event at `position`.
    pub(crate) fn stored(position: i64, hash: &str) -> Result<Link, sqlx::Error> {
        Link::from_hex(hash)
            .ok_or_else(|| sqlx::Error::Protocol(format!("the link of position {position} is not hex")))
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Link({self})")
    }
}

/// What the chain covers of one event: every column `events` stores, by its column name.
/// Instants are RFC 3339 in UTC with exactly six fractional digits and `Z`
/// (`2026-12-04T10:00:00.000000Z`: the microseconds both databases store); ids are lowercase
/// hyphenated UUIDs; `payload` and `metadata` are the stored JSON.
#[derive(Debug, Serialize)]
pub struct Chained<'a> {
    pub global_position: i64,
    pub stream_type: &'a str,
    pub stream_id: Uuid,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: &'a str,
    pub schema_version: i32,
    pub payload: &'a Value,
    pub metadata: &'a Value,
    #[serde(serialize_with = "instant")]
    pub occurred_at: DateTime<Utc>,
    #[serde(serialize_with = "instant")]
    pub recorded_at: DateTime<Utc>,
}

impl Chained<'_> {
    /// The event's canonical bytes: RFC 8785 JSON of this object (members sorted by name, no
    /// whitespace, numbers and strings in their one canonical form).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serializing plain data never fails: no map has non-string keys, no float is NaN.
        serde_jcs::to_vec(self).unwrap_or_default()
    }
}

impl<'a> From<&'a RecordedEvent> for Chained<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        Chained {
            global_position: event.global_position,
            stream_type: &event.stream_type,
            stream_id: event.stream_id,
            stream_version: event.stream_version,
            event_id: event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &event.payload,
            metadata: &event.metadata,
            occurred_at: event.occurred_at,
            recorded_at: event.recorded_at,
        }
    }
}

/// The canonical form of an event about to be appended, but for what only the log's lock
/// decides (its position, version and record time): prepared by the caller's task, so that the
/// group commit, which links events one after the other under the lock, only assembles it.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `{"event_id":…,"event_type":…,"global_position":` up to the position.
    head: String,
    /// `,"metadata":…,"occurred_at":…,"payload":…,"recorded_at":` up to the record time.
    middle: String,
    /// `,"schema_version":…,"stream_id":…,"stream_type":…,"stream_version":` up to the version.
    tail: String,
}

impl Prepared {
    pub fn new(event: &NewEvent, stream_type: &str, stream_id: Uuid) -> Prepared {
        Prepared {
            head: format!(
                "{{\"event_id\":{},\"event_type\":{},\"global_position\":",
                json(&event.event_id.to_string()),
                json(&event.event_type)
            ),
            middle: format!(
                ",\"metadata\":{},\"occurred_at\":{},\"payload\":{},\"recorded_at\":",
                json(&event.metadata),
                json(&instant_text(&event.occurred_at)),
                json(&event.payload)
            ),
            tail: format!(
                ",\"schema_version\":{},\"stream_id\":{},\"stream_type\":{},\"stream_version\":",
                event.schema_version,
                json(&stream_id.to_string()),
                json(&stream_type)
            ),
        }
    }

    /// The event's canonical bytes, once stored at `global_position` as version
    /// `stream_version`, recorded at `recorded_at`: the same bytes as [`Chained::canonical_bytes`].
    pub fn canonical_bytes(
        &self,
        global_position: i64,
        stream_version: i64,
        recorded_at: &DateTime<Utc>,
    ) -> Vec<u8> {
        let recorded_at = json(&instant_text(recorded_at));
        format!(
            "{}{global_position}{}{recorded_at}{}{stream_version}}}",
            self.head, self.middle, self.tail
        )
        .into_bytes()
    }
}

/// Canonical JSON of one of the values [`Prepared`] holds. (RFC 8785 writes an integer below
/// 2^53 as its decimal digits, which is what `format!` does with the positions and versions.)
fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing plain data never fails: no map has non-string keys, no float is NaN.
    serde_jcs::to_string(value).unwrap_or_default()
}

fn instant<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&instant_text(at))
}

/// An instant as the canonical form writes it.
fn instant_text(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The chain's head: the position of its last link and that link ([`GENESIS`] at 0). The
/// chain covers the log up to its first unlinked event (none, once the log is linked).
pub(crate) async fn head(tx: &mut Transaction) -> Result<(i64, Link), sqlx::Error> {
    let first_unlinked: Option<i64> = query("SELECT MIN(global_position) FROM events WHERE hash IS NULL")
        .fetch_scalar(&mut *tx)
        .await?;
    let last: Option<(i64, Option<String>)> = match first_unlinked {
        None => {
            query("SELECT global_position, hash FROM events ORDER BY global_position DESC LIMIT 1")
                .fetch_optional(&mut *tx)
                .await?
        }
        Some(unlinked) => query("SELECT global_position, hash FROM events WHERE global_position < $1 ORDER BY global_position DESC LIMIT 1")
            .bind(unlinked)
            .fetch_optional(&mut *tx)
            .await?,
    };
    match last {
        None => Ok((0, GENESIS)),
        Some((position, Some(hash))) => Ok((position, Link::stored(position, &hash)?)),
        Some((position, None)) => Err(sqlx::Error::Protocol(format!(
            "the event at position {position} has no link"
        ))),
    }
}

/// Links the events after the chain's head `from` up to the log's head `to` (at most `limit`
/// of them), inside `tx`, which holds the log's lock; answers the new head. Each event's link
/// is written once: an event that has one keeps it (`verify` judges it).
pub(crate) async fn extend(
    tx: &mut Transaction,
    (mut position, mut link): (i64, Link),
    to: i64,
    limit: i64,
) -> Result<(i64, Link), sqlx::Error> {
    let until = to.min(position.saturating_add(limit));
    while position < until {
        let events: Vec<RecordedEvent> = query(format!(
            "{} WHERE global_position > $1 AND global_position <= $2 ORDER BY global_position LIMIT 1000",
            crate::store::sql::SELECT_EVENTS
        ))
        .bind(position)
        .bind(until)
        .fetch_all(&mut *tx)
        .await?;
        if events.is_empty() {
            break;
        }
        let mut links = Vec::with_capacity(events.len());
        for event in &events {
            link = link.then(&Chained::from(event));
            position = event.global_position;
            links.push(vec![Param::from(position), Param::from(link.to_hex())]);
        }
        query("UPDATE events SET hash = v.column2 FROM (VALUES ")
            .values(links)
            .push(") AS v WHERE events.global_position = v.column1 AND events.hash IS NULL")
            .execute(&mut *tx)
            .await?;
    }
    Ok((position, link))
}

/// Links every event the chain does not cover yet (a log that predates it), a batch at a time,
/// each under the log's lock; `reached` hears each batch's last position. At start-up, before
/// the service appends: the group commit would otherwise link them all in its first batch.
pub async fn catch_up(database: &Database, mut reached: impl FnMut(i64, i64)) -> Result<i64, StoreError> {
    const BATCH: i64 = 10_000;
    loop {
        let mut tx = database.begin_write().await?;
        tx.lock_log().await?;
        let log_head: i64 = query("SELECT COALESCE(MAX(global_position), 0) FROM events")
            .fetch_scalar(&mut tx)
            .await?;
        let chain = head(&mut tx).await?;
        if chain.0 >= log_head {
            tx.commit().await?;
            return Ok(log_head);
        }
        let (position, _) = extend(&mut tx, chain, log_head, BATCH).await?;
        tx.commit().await?;
        reached(position, log_head);
    }
}

/// An event and its stored link, as the reads that show the chain give it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedEvent {
    pub event: RecordedEvent,
    /// `None` for an event not linked yet (appended around the service, or by a version before
    /// the chain, until the next batch or start-up links it).
    pub link: Option<Link>,
}

/// `events` with their stored links: one read of the links of their positions.
pub async fn with_links(
    database: &Database,
    events: Vec<RecordedEvent>,
) -> Result<Vec<LinkedEvent>, sqlx::Error> {
    let positions: Vec<i64> = events.iter().map(|event| event.global_position).collect();
    let mut links = links_of(database, &positions).await?;
    Ok(events
        .into_iter()
        .map(|event| LinkedEvent {
            link: links.remove(&event.global_position),
            event,
        })
        .collect())
}

/// The stored links of the events at `positions` (those that have one).
async fn links_of(database: &Database, positions: &[i64]) -> Result<HashMap<i64, Link>, sqlx::Error> {
    if positions.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, Option<String>)> =
        query("SELECT global_position, hash FROM events WHERE global_position IN (")
            .values_list(positions.iter().copied())
            .push(")")
            .fetch_all(database)
            .await?;
    let mut links = HashMap::with_capacity(rows.len());
    for (position, hash) in rows {
        if let Some(hash) = hash {
            links.insert(position, Link::stored(position, &hash)?);
        }
    }
    Ok(links)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn event(position: i64, amount: i64) -> RecordedEvent {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
            .single()
            .expect("an instant");
        RecordedEvent {
            global_position: position,
            stream_type: "account".into(),
            stream_id: Uuid::from_u128(1),
            stream_version: position,
            event_id: Uuid::from_u128(0x100 + u128::try_from(position).unwrap_or(0)),
            event_type: "MoneyDeposited".into(),
            schema_version: 2,
            payload: json!({ "amount": amount, "currency": "EUR", "description": "café" }),
            metadata: json!({ "command": "Deposit" }),
            occurred_at: at,
            recorded_at: at + chrono::TimeDelta::microseconds(1_500),
        }
    }

    #[test]
    fn the_canonical_form_is_rfc_8785_json_of_every_stored_column() {
        let bytes = Chained::from(&event(1, 250)).canonical_bytes();
        assert_eq!(
            String::from_utf8(bytes).expect("utf-8"),
            "{\"event_id\":\"00000000-0000-0000-0000-000000000101\",\"event_type\":\"MoneyDeposited\",\
             \"global_position\":1,\"metadata\":{\"command\":\"Deposit\"},\
             \"occurred_at\":\"2026-12-04T10:00:00.000000Z\",\
             \"payload\":{\"amount\":250,\"currency\":\"EUR\",\"description\":\"café\"},\
             \"recorded_at\":\"2026-12-04T10:00:00.001500Z\",\"schema_version\":2,\
             \"stream_id\":\"00000000-0000-0000-0000-000000000001\",\"stream_type\":\"account\",\
             \"stream_version\":1}"
        );
    }

    #[test]
    fn an_event_prepared_before_the_lock_has_the_canonical_bytes_of_the_stored_one() {
        let mut stored = event(7, 1_000_000_000_000_000);
        stored.payload = json!({ "amount": 1, "text": "a \"quoted\" \\ line\u{2028} é ☃", "n": null,
            "nested": { "z": [1, 2, { "b": true, "a": false }], "a": -5 } });
        let new = NewEvent {
            event_id: stored.event_id,
            event_type: stored.event_type.clone(),
            schema_version: stored.schema_version,
            payload: stored.payload.clone(),
            metadata: stored.metadata.clone(),
            occurred_at: stored.occurred_at,
        };
        let prepared = Prepared::new(&new, &stored.stream_type, stored.stream_id);
        let assembled =
            prepared.canonical_bytes(stored.global_position, stored.stream_version, &stored.recorded_at);
        assert_eq!(
            String::from_utf8(assembled.clone()).expect("utf-8"),
            String::from_utf8(Chained::from(&stored).canonical_bytes()).expect("utf-8")
        );
        assert_eq!(
            GENESIS.then_prepared(&assembled),
            GENESIS.then(&Chained::from(&stored))
        );
    }

    #[test]
    fn each_link_covers_its_event_and_every_link_before_it() {
        let first = GENESIS.then(&Chained::from(&event(1, 250)));
        let second = first.then(&Chained::from(&event(2, 100)));
        assert_eq!(Link::from_hex(&second.to_hex()), Some(second));
        assert_ne!(GENESIS.then(&Chained::from(&event(1, 251))), first);
        assert_ne!(GENESIS.then(&Chained::from(&event(2, 100))), second);
        let mut digest = Sha256::new();
        digest.update(first.0);
        digest.update(Chained::from(&event(2, 100)).canonical_bytes());
        assert_eq!(second.0, <[u8; 32]>::from(digest.finalize()));
    }
}
