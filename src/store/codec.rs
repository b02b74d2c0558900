//! Domain events to stored envelopes and back.
//!
//! A domain event enum is serialized adjacently tagged (`{"type": ..., "data": ...}`): the tag
//! becomes the `event_type` column and `data` the `payload`. Decoding reverses it, after
//! [`upcast`] has brought an old payload up to the current schema version, so the domain only
//! ever sees events in today's shape.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::store::{RecordedEvent, StoreError};

/// The schema version every event is written with today.
pub const CURRENT_SCHEMA_VERSION: i32 = 1;

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
pub fn decode<E: DeserializeOwned>(recorded: &RecordedEvent) -> Result<E, StoreError> {
    let payload = upcast(
        &recorded.event_type,
        recorded.schema_version,
        recorded.payload.clone(),
    );
    serde_json::from_value(json!({ "type": recorded.event_type, "data": payload })).map_err(|source| {
        StoreError::Undecodable {
            event_id: recorded.event_id,
            event_type: recorded.event_type.clone(),
            schema_version: recorded.schema_version,
            source,
        }
    })
}

/// Brings a stored payload up to [`CURRENT_SCHEMA_VERSION`].
///
/// Events are immutable, so when an event's shape changes the old rows stay as they are and are
/// transformed on read. Each schema change adds one step here, from version `n` to `n + 1`.
pub fn upcast(_event_type: &str, _schema_version: i32, payload: Value) -> Value {
    payload
}
