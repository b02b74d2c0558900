//! `account_holds`: one row per hold, open from its placement until it is captured, voided or
//! expired.
//!
//! Besides `GET /accounts/{id}/holds` (and the holds open at an instant, `?at=`), this read
//! model is where the expiry scheduler finds its work: the open holds whose deadline has
//! passed ([`ReadModels::due_holds`](crate::projection::ReadModels::due_holds)). The deadline
//! lives in the log (`HoldPlaced.expires_at`) and this table is a fold of it, so it survives
//! every restart and is the same for every process.
//!
//! A hold id is chosen by the client and is unique within its account only, so a row's key is
//! the pair, written `<account_id>/<hold_id>` ([`hold_key`]). [`fold`] is pure: `write_batch` runs it
//! on the rows a batch names, `foldbank verify` on every row in memory. A step is applied once
//! (the row's `position` says which events it reflects), and only to an open hold.

mod reads;

pub use reads::{DueHold, HoldFilter, HoldPage, HoldsRead};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Param, Stored};
use crate::domain::account::AccountEvent;
use crate::projection::keyed::KeyedRow;
use crate::projection::{Applied, ProjectionName};
use crate::store::EventPlace;

/// Where a hold is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum HoldStatus {
    /// Money set aside, waiting for a capture, a void or the deadline.
    Open,
    /// Paid out, all or part (the rest released).
    Captured,
    /// Cancelled: all released.
    Voided,
    /// Nobody settled it before its deadline: all released.
    Expired,
}

crate::stored_as_text!(HoldStatus);

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HoldRow {
    pub hold_key: String,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub account_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub hold_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: HoldStatus,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub expires_at: DateTime<Utc>,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub placed_at: DateTime<Utc>,
    /// When it was captured, voided or expired.
    #[sqlx(try_from = "Stored<Option<DateTime<Utc>>>")]
    pub settled_at: Option<DateTime<Utc>>,
    /// What a capture paid out.
    pub captured: Option<i64>,
    /// The capture's movement.
    #[sqlx(try_from = "Stored<Option<Uuid>>")]
    pub transaction_id: Option<Uuid>,
    /// What the capture, void or expiry made available again.
    pub released: Option<i64>,
    /// The position of the `HoldPlaced` event: the list's order.
    pub placed_position: i64,
    /// The position of the last event the row reflects.
    pub position: i64,
}

/// The key of the hold `hold_id` of `account_id`.
pub fn hold_key(account_id: Uuid, hold_id: Uuid) -> String {
    format!("{account_id}/{hold_id}")
}

/// The row after `event`, if it is a step of a hold that changes it, given the stored row.
fn next_row(stored: Option<&HoldRow>, event: &AccountEvent, recorded: &EventPlace) -> Option<HoldRow> {
    if stored.is_some_and(|row| row.position >= recorded.global_position) {
        return None;
    }
    let open = stored.filter(|row| row.status == HoldStatus::Open);
    let settled = |row: &HoldRow, status, released: i64, occurred_at: &DateTime<Utc>| HoldRow {
        status,
        settled_at: Some(*occurred_at),
        released: Some(released),
        position: recorded.global_position,
        ..row.clone()
    };
    match event {
        AccountEvent::HoldPlaced {
            hold_id,
            amount,
            currency,
            description,
            expires_at,
            occurred_at,
        } if stored.is_none() => Some(HoldRow {
            hold_key: hold_key(recorded.stream_id, hold_id.as_uuid()),
            account_id: recorded.stream_id,
            hold_id: hold_id.as_uuid(),
            amount: amount.minor_units(),
            currency: currency.code().to_owned(),
            description: description.as_ref().map(|text| text.as_str().to_owned()),
            status: HoldStatus::Open,
            expires_at: *expires_at,
            placed_at: *occurred_at,
            settled_at: None,
            captured: None,
            transaction_id: None,
            released: None,
            placed_position: recorded.global_position,
            position: recorded.global_position,
        }),
        AccountEvent::HoldCaptured {
            transaction_id,
            amount,
            released,
            occurred_at,
            ..
        } => open.map(|row| HoldRow {
            captured: Some(amount.minor_units()),
            transaction_id: Some(transaction_id.as_uuid()),
            ..settled(row, HoldStatus::Captured, *released, occurred_at)
        }),
        AccountEvent::HoldVoided {
            released,
            occurred_at,
            ..
        } => open.map(|row| settled(row, HoldStatus::Voided, *released, occurred_at)),
        AccountEvent::HoldExpired {
            released,
            occurred_at,
            ..
        } => open.map(|row| settled(row, HoldStatus::Expired, *released, occurred_at)),
        _ => None,
    }
}

/// The key of the hold `event` is a step of, if it is one.
fn key_of(recorded: &EventPlace, event: &AccountEvent) -> Option<String> {
    event
        .hold_id()
        .map(|hold_id| hold_key(recorded.stream_id, hold_id.as_uuid()))
}

/// Folds `batch` into `rows` (the rows of the holds it names, or every row); answers the holds
/// whose row changed, in the order they first changed. Replaying a step changes nothing.
pub fn fold(rows: &mut HashMap<String, HoldRow>, batch: &[Applied]) -> Vec<String> {
    let mut changed: Vec<String> = Vec::new();
    for (recorded, event) in batch {
        let Some(key) = key_of(recorded, event) else {
            continue;
        };
        if let Some(row) = next_row(rows.get(&key), event, recorded) {
            if !changed.contains(&key) {
                changed.push(key.clone());
            }
            rows.insert(key, row);
        }
    }
    changed
}

const TABLE: &str = "account_holds";

const COLUMNS: &str = "hold_key, account_id, hold_id, amount, currency, description, status, expires_at, \
    placed_at, settled_at, captured, transaction_id, released, placed_position, position";

pub(crate) fn select_sql(filter: &str) -> String {
    HoldRow::select_from(TABLE, filter)
}

impl KeyedRow for HoldRow {
    type Key = String;
    const NAME: ProjectionName = ProjectionName::AccountHolds;
    const TABLE: &'static str = TABLE;
    const KEY: &'static str = "hold_key";
    const COLUMNS: &'static str = COLUMNS;

    fn key(&self) -> String {
        self.hold_key.clone()
    }

    /// A hold's row changes only while it is open.
    fn is_settled(&self) -> bool {
        self.status != HoldStatus::Open
    }

    fn values(&self) -> Vec<Param> {
        vec![
            self.hold_key.as_str().into(),
            self.account_id.into(),
            self.hold_id.into(),
            self.amount.into(),
            self.currency.as_str().into(),
            self.description.clone().into(),
            self.status.as_str().into(),
            self.expires_at.into(),
            self.placed_at.into(),
            self.settled_at.into(),
            self.captured.into(),
            self.transaction_id.into(),
            self.released.into(),
            self.placed_position.into(),
            self.position.into(),
        ]
    }

    fn keys_of(batch: &[Applied]) -> Vec<String> {
        batch
            .iter()
            .filter_map(|(recorded, event)| key_of(recorded, event))
            .collect()
    }

    fn fold(rows: &mut HashMap<String, Self>, batch: &[Applied]) -> Vec<String> {
        fold(rows, batch)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::domain::ids::{HoldId, TransactionId};
    use crate::domain::money::Amount;
    use crate::projection::recorded_for_tests::{in_order, recorded};
    use crate::store::RecordedEvent;

    fn placed(hold_id: HoldId, amount: i64) -> AccountEvent {
        let at = Utc::now();
        AccountEvent::HoldPlaced {
            hold_id,
            amount: Amount::new(amount).expect("amount"),
            currency: "EUR".parse().expect("EUR"),
            description: None,
            expires_at: at + TimeDelta::hours(1),
            occurred_at: at,
        }
    }

    fn captured(hold_id: HoldId, amount: i64, released: i64) -> AccountEvent {
        AccountEvent::HoldCaptured {
            hold_id,
            transaction_id: TransactionId(Uuid::now_v7()),
            amount: Amount::new(amount).expect("amount"),
            released,
            currency: "EUR".parse().expect("EUR"),
            occurred_at: Utc::now(),
        }
    }

    fn fold_all(
        rows: &mut HashMap<String, HoldRow>,
        events: &[(RecordedEvent, AccountEvent)],
    ) -> Vec<String> {
        let batch: Vec<Applied> = events
            .iter()
            .map(|(recorded, event)| (recorded.place(), event.clone()))
            .collect();
        fold(rows, &batch)
    }

    #[test]
    fn a_hold_is_placed_then_settled_once_and_a_batch_folded_again_changes_nothing() {
        let (account, hold) = (Uuid::now_v7(), HoldId(Uuid::now_v7()));
        let events = in_order(account, [placed(hold, 500), captured(hold, 200, 300)]);
        let mut rows = HashMap::new();
        let key = hold_key(account, hold.as_uuid());
        assert_eq!(fold_all(&mut rows, &events), vec![key.clone()]);
        let row = &rows[&key];
        assert_eq!(
            (
                row.status,
                row.captured,
                row.released,
                row.placed_position,
                row.position
            ),
            (HoldStatus::Captured, Some(200), Some(300), 1, 2)
        );
        assert_eq!(fold_all(&mut rows, &events), Vec::<String>::new());
    }

    #[test]
    fn a_settlement_of_a_hold_that_is_no_longer_open_changes_nothing() {
        let (account, hold) = (Uuid::now_v7(), HoldId(Uuid::now_v7()));
        let void = AccountEvent::HoldVoided {
            hold_id: hold,
            released: 500,
            currency: "EUR".parse().expect("EUR"),
            occurred_at: Utc::now(),
        };
        let events = in_order(account, [placed(hold, 500), void, captured(hold, 500, 0)]);
        let mut rows = HashMap::new();
        fold_all(&mut rows, &events);
        let row = &rows[&hold_key(account, hold.as_uuid())];
        assert_eq!(
            (row.status, row.captured, row.position),
            (HoldStatus::Voided, None, 2)
        );
    }

    #[test]
    fn a_hold_is_settled_for_verify_once_captured_voided_or_expired_never_while_open() {
        // `verify` compares a settled row at once and forgets it: only right if no later
        // event can change it, and only bounded if every ended hold is let go.
        let account = Uuid::now_v7();
        let ends: [fn(HoldId) -> AccountEvent; 3] = [
            |hold_id| captured(hold_id, 500, 0),
            |hold_id| AccountEvent::HoldVoided {
                hold_id,
                released: 500,
                currency: "EUR".parse().expect("EUR"),
                occurred_at: Utc::now(),
            },
            |hold_id| AccountEvent::HoldExpired {
                hold_id,
                released: 500,
                currency: "EUR".parse().expect("EUR"),
                occurred_at: Utc::now(),
            },
        ];
        for (n, end) in ends.into_iter().enumerate() {
            let hold = HoldId(Uuid::now_v7());
            let (placing, ending) = (placed(hold, 500), end(hold));
            let position = 2 * n as i64 + 1;
            let mut rows = HashMap::new();
            fold_all(&mut rows, &[(recorded(account, &placing, position), placing)]);
            let key = hold_key(account, hold.as_uuid());
            assert!(!rows[&key].is_settled(), "an open hold");
            fold_all(
                &mut rows,
                &[(recorded(account, &ending, position + 1), ending.clone())],
            );
            assert!(rows[&key].is_settled(), "{ending:?}");
        }
    }

    #[test]
    fn a_second_placing_of_a_hold_never_reopens_or_changes_it() {
        // The decider records no second placing under a hold's id; were one in the log (an
        // upcaster's or an import's mistake), the read model would still keep the first.
        let (account, hold) = (Uuid::now_v7(), HoldId(Uuid::now_v7()));
        let events = in_order(
            account,
            [placed(hold, 500), captured(hold, 200, 300), placed(hold, 900)],
        );
        let mut rows = HashMap::new();
        fold_all(&mut rows, &events);
        let row = &rows[&hold_key(account, hold.as_uuid())];
        assert_eq!(
            (row.status, row.amount, row.captured, row.position),
            (HoldStatus::Captured, 500, Some(200), 2)
        );
    }

    #[test]
    fn one_hold_id_on_two_accounts_is_two_holds() {
        let hold = HoldId(Uuid::now_v7());
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let events = [
            (recorded(first, &placed(hold, 100), 1), placed(hold, 100)),
            (recorded(second, &placed(hold, 200), 2), placed(hold, 200)),
        ];
        let mut rows = HashMap::new();
        assert_eq!(fold_all(&mut rows, &events).len(), 2);
        assert_eq!(rows[&hold_key(first, hold.as_uuid())].amount, 100);
        assert_eq!(rows[&hold_key(second, hold.as_uuid())].amount, 200);
    }
}
