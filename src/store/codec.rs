//! Domain events to stored envelopes and back.
//!
//! A domain event enum is serialized adjacently tagged (`{"type": ..., "data": ...}`): the tag
//! becomes the `event_type` column and `data` the `payload`. Decoding reverses it, after
//! [`upcast`] has brought an old payload up to the current schema version, so the domain only
//! ever sees events in today's shape.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde::de::value::MapDeserializer;
use serde_json::Value;

use crate::store::{RecordedEvent, StoreError, UndecodedEvent};

/// The schema version an event type is written with today.
///
/// A version goes up when a payload's shape changes; the step from the previous version goes
/// into `upcast_step`. Types not listed are still at version 1.
pub fn current_schema_version(event_type: &str) -> i32 {
    match event_type {
        "MoneyDeposited" | "MoneyWithdrawn" | "AccountFrozen" | "AccountUnfrozen" => 2,
        _ => 1,
    }
}

/// Splits a domain event into `(event_type, payload)`.
pub fn encode<E: Serialize>(event: &E) -> Result<(String, Value), serde_json::Error> {
    let mut tagged = serde_json::to_value(event)?;
    let event_type = match tagged.get("type") {
        Some(Value::String(event_type)) => event_type.clone(),
        _ => {
            return Err(serde::ser::Error::custom(
                "domain events must serialize adjacently tagged as {\"type\", \"data\"}",
            ));
        }
    };
    let payload = tagged.get_mut("data").map(Value::take).unwrap_or(Value::Null);
    Ok((event_type, payload))
}

/// Rebuilds a domain event from a stored envelope, upcasting old schema versions first.
///
/// A payload already at today's version is read where it lies: a replay decodes millions of
/// events, and copying each payload (or wrapping it in a new `{"type", "data"}` object) cost a
/// rebuild more than folding them.
pub fn decode<E: DeserializeOwned>(recorded: &RecordedEvent) -> Result<E, StoreError> {
    let event_type = &recorded.event_type;
    let decoded = if recorded.schema_version < current_schema_version(event_type) {
        from_tree(
            event_type,
            &upcast(event_type, recorded.schema_version, recorded.payload.clone()),
        )
    } else {
        from_tree(event_type, &recorded.payload)
    };
    decoded.map_err(|source| undecodable(recorded.event_id, event_type, recorded.schema_version, source))
}

/// [`decode`], for an event read with its payload as text ([`UndecodedEvent`]): the payload
/// at today's version is parsed straight into the event, with no `serde_json::Value` tree
/// built and dropped on the way (what a replay of millions of events spent most of its
/// decoding on). An older one is upcast through a tree, as [`decode`] does.
pub fn decode_text<E: DeserializeOwned>(undecoded: &UndecodedEvent) -> Result<E, StoreError> {
    let event_type = &undecoded.event_type;
    let decoded = if undecoded.schema_version < current_schema_version(event_type) {
        serde_json::from_str(&undecoded.payload)
            .and_then(|payload| from_tree(event_type, &upcast(event_type, undecoded.schema_version, payload)))
    } else {
        // The envelope `{"type": ..., "data": ...}` as text, the tag first: the derived
        // decoder then reads the payload once, into the variant the tag names.
        let mut envelope = String::with_capacity(undecoded.payload.len() + event_type.len() + 24);
        envelope.push_str("{\"type\":");
        envelope.push_str(&Value::String(event_type.clone()).to_string());
        envelope.push_str(",\"data\":");
        envelope.push_str(&undecoded.payload);
        envelope.push('}');
        serde_json::from_str(&envelope)
    };
    decoded.map_err(|source| undecodable(undecoded.event_id, event_type, undecoded.schema_version, source))
}

/// The event tagged `event_type` whose data is `payload`, read where it lies: no copy of the
/// payload, no new `{"type", "data"}` object.
fn from_tree<E: DeserializeOwned>(event_type: &str, payload: &Value) -> Result<E, serde_json::Error> {
    let tag = Value::String(event_type.to_owned());
    E::deserialize(MapDeserializer::new(
        [("type", &tag), ("data", payload)].into_iter(),
    ))
}

fn undecodable(
    event_id: uuid::Uuid,
    event_type: &str,
    schema_version: i32,
    source: serde_json::Error,
) -> StoreError {
    StoreError::Undecodable {
        event_id,
        event_type: event_type.to_owned(),
        schema_version,
        source,
    }
}

/// Decodes a run of stored events, such as a stream.
pub fn decode_all<E: DeserializeOwned>(recorded: &[RecordedEvent]) -> Result<Vec<E>, StoreError> {
    recorded.iter().map(decode).collect()
}

/// Brings a stored payload up to [`current_schema_version`], one step at a time.
///
/// Events are immutable: when an event's shape changes, the rows already stored keep their old
/// shape and version, and are transformed on every read instead. The domain only ever sees the
/// current shape, and `GET /accounts/{id}/events` still shows what was stored.
pub fn upcast(event_type: &str, schema_version: i32, mut payload: Value) -> Value {
    let mut version = schema_version;
    while version < current_schema_version(event_type) {
        payload = upcast_step(event_type, version, payload);
        version += 1;
    }
    payload
}

/// Turns a payload of `event_type` at `version` into version `version + 1`.
fn upcast_step(event_type: &str, version: i32, mut payload: Value) -> Value {
    match (event_type, version) {
        // Version 1 of deposits and withdrawals nested the money as one object:
        // `"amount": {"minor_units": 1250, "currency": "EUR"}`. Version 2 keeps the two apart,
        // like every other event: `"amount": 1250, "currency": "EUR"`.
        ("MoneyDeposited" | "MoneyWithdrawn", 1) => {
            let nested = payload.get("amount").and_then(Value::as_object).cloned();
            if let (Some(money), Some(fields)) = (nested, payload.as_object_mut()) {
                let field = |name: &str| money.get(name).cloned().unwrap_or(Value::Null);
                fields.insert("amount".into(), field("minor_units"));
                fields.insert("currency".into(), field("currency"));
            }
            payload
        }
        // Version 1 freezes did not say who froze the account: only the bank could, then.
        // Version 2 names it, since an owner may freeze its own account (a lost card).
        ("AccountFrozen", 1) => {
            if let Some(fields) = payload.as_object_mut() {
                fields.entry("by").or_insert_with(|| Value::from("bank"));
            }
            payload
        }
        // Version 1 unfreezes gave no reason; version 2 may, and says `null` when none was given.
        ("AccountUnfrozen", 1) => {
            if let Some(fields) = payload.as_object_mut() {
                fields.entry("reason").or_insert(Value::Null);
            }
            payload
        }
        _ => payload,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::domain::account::AccountEvent;

    fn stored(event_type: &str, schema_version: i32, payload: Value) -> RecordedEvent {
        RecordedEvent {
            global_position: 1,
            stream_type: "account".into(),
            stream_id: Uuid::nil(),
            stream_version: 1,
            event_id: Uuid::nil(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata: json!({}),
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
        }
    }

    fn v1_deposit() -> Value {
        json!({
            "transaction_id": Uuid::nil(),
            "amount": { "minor_units": 1250, "currency": "EUR" },
            "description": "salary",
            "occurred_at": "2025-01-01T00:00:00Z"
        })
    }

    #[test]
    fn a_version_1_deposit_is_upcast_to_the_current_shape() {
        let event: AccountEvent = decode(&stored("MoneyDeposited", 1, v1_deposit())).expect("v1 decodes");

        let AccountEvent::MoneyDeposited { amount, currency, .. } = event else {
            panic!("a MoneyDeposited event");
        };
        assert_eq!(amount.minor_units(), 1250);
        assert_eq!(currency.code(), "EUR");
    }

    #[test]
    fn without_the_upcaster_a_version_1_deposit_would_not_decode() {
        // Claiming the old payload is current skips the upcaster: the nested amount is an error.
        let result = decode::<AccountEvent>(&stored("MoneyDeposited", 2, v1_deposit()));
        assert!(result.is_err());
    }

    #[test]
    fn payloads_at_the_current_version_are_left_alone() {
        let payload = json!({ "amount": 7, "currency": "EUR" });
        assert_eq!(upcast("MoneyDeposited", 2, payload.clone()), payload);
        assert_eq!(upcast("AccountFrozen", 2, payload.clone()), payload);
        assert_eq!(upcast("AccountClosed", 1, payload.clone()), payload);
        assert_eq!(upcast("MoneyWithdrawn", 1, payload.clone()), payload);
    }

    #[test]
    fn a_version_1_freeze_is_upcast_as_the_banks() {
        let payload = json!({ "reason": "fraud check", "occurred_at": "2025-01-01T00:00:00Z" });
        let event: AccountEvent = decode(&stored("AccountFrozen", 1, payload.clone())).expect("v1 decodes");
        let AccountEvent::AccountFrozen { by, reason, .. } = event else {
            panic!("an AccountFrozen event");
        };
        assert_eq!(by, crate::domain::account::FrozenBy::Bank);
        assert_eq!(reason.as_str(), "fraud check");
        assert!(
            decode::<AccountEvent>(&stored("AccountFrozen", 2, payload)).is_err(),
            "without the upcaster the old payload would not decode"
        );
    }

    #[test]
    fn a_version_1_unfreeze_is_upcast_without_a_reason() {
        let payload = json!({ "occurred_at": "2025-01-01T00:00:00Z" });
        assert_eq!(
            upcast("AccountUnfrozen", 1, payload.clone()),
            json!({ "reason": null, "occurred_at": "2025-01-01T00:00:00Z" })
        );
        let event: AccountEvent = decode(&stored("AccountUnfrozen", 1, payload)).expect("v1 decodes");
        assert!(
            matches!(event, AccountEvent::AccountUnfrozen { reason: None, .. }),
            "{event:?}"
        );
        assert_eq!(current_schema_version("AccountUnfrozen"), 2);
    }

    /// `recorded` as a replay reads it: its payload as the stored text.
    fn undecoded(recorded: &RecordedEvent) -> UndecodedEvent {
        UndecodedEvent {
            global_position: recorded.global_position,
            stream_id: recorded.stream_id,
            stream_version: recorded.stream_version,
            event_id: recorded.event_id,
            event_type: recorded.event_type.clone(),
            schema_version: recorded.schema_version,
            payload: recorded.payload.to_string(),
        }
    }

    #[test]
    fn from_its_text_an_event_decodes_as_from_its_tree_at_every_version() {
        let deposit = AccountEvent::MoneyDeposited {
            transaction_id: crate::domain::ids::TransactionId(Uuid::now_v7()),
            amount: crate::domain::money::Amount::new(1250).expect("positive"),
            currency: "EUR".parse().expect("EUR"),
            description: None,
            occurred_at: Utc::now(),
        };
        let (event_type, payload) = encode(&deposit).expect("encodes");
        let current = stored(&event_type, current_schema_version(&event_type), payload);
        let v1 = stored("MoneyDeposited", 1, v1_deposit());
        let v1_freeze = stored(
            "AccountFrozen",
            1,
            json!({ "reason": "fraud check", "occurred_at": "2025-01-01T00:00:00Z" }),
        );
        for recorded in [current, v1, v1_freeze] {
            let from_tree: AccountEvent = decode(&recorded).expect("decodes from its tree");
            let from_text: AccountEvent = decode_text(&undecoded(&recorded)).expect("decodes from its text");
            assert_eq!(from_text, from_tree, "{}", recorded.event_type);
        }
        assert_eq!(
            decode_text::<AccountEvent>(&undecoded(&stored(
                &event_type,
                2,
                encode(&deposit).expect("encodes").1
            )))
            .expect("decodes"),
            deposit
        );
    }

    #[test]
    fn from_its_text_an_event_that_does_not_decode_is_named_with_its_version() {
        // The old shape claimed current: no upcaster runs, the nested amount is an error.
        let claimed_current = undecoded(&stored("MoneyDeposited", 2, v1_deposit()));
        let unknown_type = undecoded(&stored("MoneyTeleported", 1, json!({})));
        for undecoded in [claimed_current, unknown_type] {
            match decode_text::<AccountEvent>(&undecoded) {
                Err(StoreError::Undecodable {
                    event_type,
                    schema_version,
                    ..
                }) => assert_eq!(
                    (event_type, schema_version),
                    (undecoded.event_type.clone(), undecoded.schema_version)
                ),
                other => panic!("{} did not fail to decode: {other:?}", undecoded.event_type),
            }
        }
    }

    #[test]
    fn new_events_are_written_at_the_current_version() {
        assert_eq!(current_schema_version("MoneyDeposited"), 2);
        assert_eq!(current_schema_version("TransferDebited"), 1);
    }
}
