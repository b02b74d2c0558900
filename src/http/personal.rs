//! Where personal data crosses the HTTP edge: sealed as a command comes in, opened as an answer
//! goes out (see [`crate::privacy`]).
//!
//! - **In**: a handler validates personal text (a description, a reason) as [`Text`], then
//!   [`seal`]s it with the data key of the owner it belongs to, before the command is built.
//!   The domain, the log, snapshots, read models and recorded responses only ever see the
//!   sealed form.
//! - **Out**: [`open_responses`] opens every sealed field of every JSON answer, whichever
//!   endpoint made it (a view, a recorded response replayed, an event of the log), with the
//!   keys read for that answer. A field whose owner was erased reads `null`, and the object
//!   that held it says `"personal_data": "erased"`. `GET /events/stream` opens each event the
//!   same way ([`open_fields`]).
//!
//! A sealed field names its owner (`pd1:{owner}:…`), which is what lets one filter open any
//! answer without knowing its shape.

use std::collections::{BTreeSet, HashMap};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::command::CommandOptions;
use crate::domain::ids::{AccountId, OwnerId};
use crate::domain::personal::Personal;
use crate::domain::text::Text;
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::privacy::{Keyring, KeyringError, OwnerKey, Sealed};

/// What marks a sealed field in a JSON text.
const SEALED_MARK: &[u8] = b"\"pd1:";

/// The member an object with an unreadable personal field gains.
pub(crate) const PERSONAL_DATA: &str = "personal_data";

/// The largest answer the filter reads whole (the longest page of a history is far smaller).
const MAX_OPENED_BODY: usize = 64 * 1024 * 1024;

/// Why an object's personal fields read `null` (its `personal_data` member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonalData {
    /// The owner's personal data was erased (`POST /owners/{owner_id}/erasure`).
    Erased,
    /// The field does not open with its owner's key (altered, or copied from another database).
    Unreadable,
}

/// `text` sealed for the owner of `account`, for the command `options` describe; no work at
/// all without text.
///
/// A customer's own owner is used as is (another owner's account is answered
/// `404` by the command anyway); anyone else's command reads the account's owner as the
/// command will (from the command side's cache, or the log). An erased owner's text is refused
/// (`422 personal-data-erased`), unless the request's `Idempotency-Key` was answered before
/// the erasure: then that answer stands, as for any retry.
pub(crate) async fn seal<O>(
    app: &AppState,
    account: AccountId,
    text: Option<&Text>,
    options: &CommandOptions<O>,
) -> Result<Option<Personal>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let owner = match options.owner {
        Some(owner) => owner,
        None => app
            .commands
            .owner_of(account)
            .await?
            .ok_or(ApiError::AccountNotFound(account))?,
    };
    seal_for(app, owner, text, options).await.map(Some)
}

/// `text` sealed for `owner` (an account being opened for them), for the command `options`
/// describe: as [`seal`] does once it knows the owner.
pub(crate) async fn seal_for<O>(
    app: &AppState,
    owner: OwnerId,
    text: &Text,
    options: &CommandOptions<O>,
) -> Result<Personal, ApiError> {
    match app.keyring.sealing_key(owner.as_uuid(), app.clock.now()).await {
        Ok(key) => Ok(key.seal(text.as_str()).into()),
        Err(erased @ KeyringError::Erased(_)) => {
            app.commands.answered_before(options).await?;
            Err(erased.into())
        }
        Err(error) => Err(error.into()),
    }
}

/// Middleware: opens the sealed fields of a JSON answer. Answers without any pass untouched,
/// after a scan of their bytes.
pub(crate) async fn open_responses(State(keyring): State<Keyring>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_OPENED_BODY).await {
        Ok(bytes) => bytes,
        Err(error) => return ApiError::Internal(Box::new(error)).into_response(),
    };
    if memchr::memmem::find(&bytes, SEALED_MARK).is_none() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        // Not JSON after all: nothing this filter can open.
        Err(_) => return Response::from_parts(parts, Body::from(bytes)),
    };
    if let Err(error) = open_fields(&keyring, &mut value).await {
        return ApiError::from(error).into_response();
    }
    let opened = serde_json::to_vec(&value).unwrap_or_default();
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(opened))
}

/// Opens every sealed field in `value` in place (one read of the keys of every owner named).
pub(crate) async fn open_fields(keyring: &Keyring, value: &mut Value) -> Result<(), KeyringError> {
    let owners = owners_in(value);
    if owners.is_empty() {
        return Ok(());
    }
    let keys = keyring.opening_keys(&owners).await?;
    open_with(value, &keys);
    Ok(())
}

/// The owners whose personal fields `value` holds.
pub(crate) fn owners_in(value: &Value) -> BTreeSet<Uuid> {
    let mut owners = BTreeSet::new();
    collect_owners(value, &mut owners);
    owners
}

/// Opens every sealed field in `value` with `keys` (read for its owners).
pub(crate) fn open_with(value: &mut Value, keys: &HashMap<Uuid, OwnerKey>) {
    open_in(value, &|sealed: &Sealed| {
        match keys.get(&sealed.owner()) {
        Some(OwnerKey::Key(key)) => key.open(sealed).map_err(|error| {
            tracing::warn!(owner = %sealed.owner(), %error, "a personal field does not open with its owner's key");
            PersonalData::Unreadable
        }),
        Some(OwnerKey::Erased) => Err(PersonalData::Erased),
        // Logged at ERROR where the key was read.
        Some(OwnerKey::Unavailable) => Err(PersonalData::Unreadable),
        None => {
            tracing::warn!(owner = %sealed.owner(), "a personal field names an owner without a key");
            Err(PersonalData::Unreadable)
        }
    }
    });
}

/// The members that hold personal data, in every answer and event that has them. Only these
/// are opened: a sealed value a client put anywhere else (an `X-Request-Id` recorded as a
/// correlation id, say) is shown as the text it is, so that no one can have the service open
/// another owner's field by sending it back.
const PERSONAL_FIELDS: [&str; 4] = ["description", "reason", "frozen_reason", "holder_name"];

/// The member `name` of an object, if it holds a sealed field.
fn sealed(name: &str, value: &Value) -> Option<Sealed> {
    match value {
        Value::String(text) if text.starts_with("pd1:") && PERSONAL_FIELDS.contains(&name) => {
            text.parse().ok()
        }
        _ => None,
    }
}

fn collect_owners(value: &Value, owners: &mut BTreeSet<Uuid>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| collect_owners(item, owners)),
        Value::Object(members) => {
            for (name, member) in members {
                match sealed(name, member) {
                    Some(sealed) => {
                        owners.insert(sealed.owner());
                    }
                    None => collect_owners(member, owners),
                }
            }
        }
        _ => {}
    }
}

/// Replaces each sealed field with what `open` makes of it; an object with a field that did
/// not open says why in its `personal_data` member (erased, when any of its fields was).
fn open_in(value: &mut Value, open: &impl Fn(&Sealed) -> Result<String, PersonalData>) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| open_in(item, open)),
        Value::Object(members) => open_members(members, open),
        _ => {}
    }
}

fn open_members(members: &mut Map<String, Value>, open: &impl Fn(&Sealed) -> Result<String, PersonalData>) {
    let mut unread: Option<PersonalData> = None;
    for (name, member) in members.iter_mut() {
        match sealed(name, member) {
            Some(sealed) => match open(&sealed) {
                Ok(text) => *member = Value::String(text),
                Err(why) => {
                    *member = Value::Null;
                    unread = Some(match unread {
                        Some(PersonalData::Erased) => PersonalData::Erased,
                        _ => why,
                    });
                }
            },
            None => open_in(member, open),
        }
    }
    if let Some(why) = unread {
        members.insert(
            PERSONAL_DATA.to_owned(),
            serde_json::to_value(why).unwrap_or_default(),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::privacy::DataKey;

    #[test]
    fn personal_fields_open_wherever_they_are_and_an_erased_owners_read_null_with_the_reason() {
        let (alice, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let alice_key = DataKey::generate(alice).expect("a key");
        let bob_key = DataKey::generate(bob).expect("a key");
        let bobs_name = bob_key.seal("Bob").to_string();
        let mut value = json!({
            "items": [
                { "amount": 5, "description": alice_key.seal("rent").to_string() },
                { "amount": 6, "description": bob_key.seal("gift").to_string(), "note": null },
                { "amount": 7, "description": "pd1:typed by a client before sealing existed" },
            ],
            "data": { "reason": alice_key.seal("lost card").to_string() },
            // Not a personal field: a sealed value sent back by a client is shown as it is.
            "metadata": { "correlation_id": bobs_name.clone() },
        });
        assert_eq!(owners_in(&value), BTreeSet::from([alice, bob]));

        open_in(&mut value, &|sealed: &Sealed| {
            if sealed.owner() == alice {
                alice_key.open(sealed).map_err(|_| PersonalData::Unreadable)
            } else {
                Err(PersonalData::Erased)
            }
        });
        assert_eq!(
            value,
            json!({
                "items": [
                    { "amount": 5, "description": "rent" },
                    { "amount": 6, "description": null, "note": null, "personal_data": "erased" },
                    { "amount": 7, "description": "pd1:typed by a client before sealing existed" },
                ],
                "data": { "reason": "lost card" },
                "metadata": { "correlation_id": bobs_name },
            })
        );
    }
}
