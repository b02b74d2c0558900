//! Events as the log hands them to a projection, for the read models' unit tests.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::account::AccountEvent;
use crate::domain::ids::{AccountId, OwnerId};
use crate::domain::money::Limit;
use crate::store::{RecordedEvent, codec};

/// `event` of `account`, recorded at global `position` as stream version `position`.
pub(crate) fn recorded(account: Uuid, event: &AccountEvent, position: i64) -> RecordedEvent {
    let (event_type, payload) = codec::encode(event).expect("encode");
    RecordedEvent {
        global_position: position,
        stream_type: "account".into(),
        stream_id: account,
        stream_version: position,
        event_id: Uuid::now_v7(),
        event_type,
        schema_version: 1,
        payload,
        metadata: serde_json::Value::Null,
        occurred_at: event.occurred_at(),
        recorded_at: event.occurred_at(),
    }
}

/// `events` of `account`, recorded one after another from position 1, each beside its event.
pub(crate) fn in_order(
    account: Uuid,
    events: impl IntoIterator<Item = AccountEvent>,
) -> Vec<(RecordedEvent, AccountEvent)> {
    (1..)
        .zip(events)
        .map(|(position, event)| (recorded(account, &event, position), event))
        .collect()
}

/// `account` opened at `at` by a new owner: EUR, no overdraft, no daily limit, no name.
pub(crate) fn opening(account: Uuid, at: DateTime<Utc>) -> AccountEvent {
    AccountEvent::AccountOpened {
        account_id: AccountId(account),
        owner_id: OwnerId(Uuid::now_v7()),
        currency: "EUR".parse().expect("EUR"),
        overdraft_limit: Limit::ZERO,
        daily_withdrawal_limit: None,
        holder_name: None,
        overdraft_fee: None,
        occurred_at: at,
    }
}
