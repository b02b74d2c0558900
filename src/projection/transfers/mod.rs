//! `transfers`: one row per transfer, pending until its credit (completed) or refund (failed).
//!
//! Every step is conditional (open once, settle only a pending row), so replaying an event
//! changes nothing. [`fold`] holds those rules, pure: `write_batch` runs it on the rows a batch
//! names, `foldbank verify` on every row in memory.

mod reads;

pub use reads::TransferPage;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Param, Stored};
use crate::domain::account::AccountEvent;
use crate::projection::keyed::KeyedRow;
use crate::projection::{Applied, ProjectionName};
use crate::store::EventPlace;

/// Where a transfer is: pending until the destination is credited (completed) or the source
/// refunded (failed).
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
#[schema(as = TransferStatus)]
pub enum TransferState {
    /// Debited from the source, not yet credited or refunded.
    Pending,
    /// Credited to the destination.
    Completed,
    /// Refused by the destination and refunded to the source.
    Failed,
}

crate::stored_as_text!(TransferState);

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TransferRow {
    #[sqlx(try_from = "Stored<Uuid>")]
    pub transfer_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub from_account: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub to_account: Uuid,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: TransferState,
    pub reason: Option<String>,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub requested_at: DateTime<Utc>,
    #[sqlx(try_from = "Stored<Option<DateTime<Utc>>>")]
    pub finished_at: Option<DateTime<Utc>>,
    pub debit_position: i64,
    pub credit_position: Option<i64>,
    pub refund_position: Option<i64>,
}

/// The row after `event`, if it is a step of a transfer that changes it, given the stored row.
///
/// A debit opens the row once; the credit completes it and the refund fails it, only while it
/// is pending and only when it comes from the transfer's own source: a transfer id reused by
/// another source (refused at the destination and refunded) must not settle the transfer that
/// owns the id.
fn next_row(
    stored: Option<&TransferRow>,
    event: &AccountEvent,
    recorded: &EventPlace,
) -> Option<TransferRow> {
    let pending =
        |from: Uuid| stored.filter(|row| row.status == TransferState::Pending && row.from_account == from);
    match event {
        AccountEvent::TransferDebited {
            transfer_id,
            to_account,
            amount,
            currency,
            description,
            occurred_at,
            ..
        } if stored.is_none() => Some(TransferRow {
            transfer_id: transfer_id.as_uuid(),
            from_account: recorded.stream_id,
            to_account: to_account.as_uuid(),
            amount: amount.minor_units(),
            currency: currency.code().to_owned(),
            description: description.as_ref().map(|text| text.as_str().to_owned()),
            status: TransferState::Pending,
            reason: None,
            requested_at: *occurred_at,
            finished_at: None,
            debit_position: recorded.global_position,
            credit_position: None,
            refund_position: None,
        }),
        AccountEvent::TransferCredited {
            from_account,
            occurred_at,
            ..
        } => pending(from_account.as_uuid()).map(|row| TransferRow {
            status: TransferState::Completed,
            finished_at: Some(*occurred_at),
            credit_position: Some(recorded.global_position),
            ..row.clone()
        }),
        AccountEvent::TransferRefunded {
            reason, occurred_at, ..
        } => pending(recorded.stream_id).map(|row| TransferRow {
            status: TransferState::Failed,
            reason: Some(reason.as_str().to_owned()),
            finished_at: Some(*occurred_at),
            refund_position: Some(recorded.global_position),
            ..row.clone()
        }),
        _ => None,
    }
}

/// The transfer `event` is a step of, if it is one.
fn transfer_of(event: &AccountEvent) -> Option<Uuid> {
    match event {
        AccountEvent::TransferDebited { transfer_id, .. }
        | AccountEvent::TransferCredited { transfer_id, .. }
        | AccountEvent::TransferRefunded { transfer_id, .. } => Some(transfer_id.as_uuid()),
        _ => None,
    }
}

/// Folds `batch` into `rows` (the rows of the transfers it names, or every row); answers the
/// transfers whose row changed, in the order they first changed. Replaying a step changes
/// nothing.
pub fn fold(rows: &mut HashMap<Uuid, TransferRow>, batch: &[Applied]) -> Vec<Uuid> {
    let mut changed = Vec::new();
    for (recorded, event) in batch {
        let Some(transfer_id) = transfer_of(event) else {
            continue;
        };
        if let Some(row) = next_row(rows.get(&transfer_id), event, recorded) {
            if !changed.contains(&transfer_id) {
                changed.push(transfer_id);
            }
            rows.insert(transfer_id, row);
        }
    }
    changed
}

const TABLE: &str = "transfers";

const COLUMNS: &str = "transfer_id, from_account, to_account, amount, currency, description, status, \
    reason, requested_at, finished_at, debit_position, credit_position, refund_position";

pub(crate) fn select_sql(filter: &str) -> String {
    TransferRow::select_from(TABLE, filter)
}

impl KeyedRow for TransferRow {
    type Key = Uuid;

    /// A transfer's row changes only while it is pending.
    fn is_settled(&self) -> bool {
        self.status != TransferState::Pending
    }

    const NAME: ProjectionName = ProjectionName::Transfers;
    const TABLE: &'static str = TABLE;
    const KEY: &'static str = "transfer_id";
    const COLUMNS: &'static str = COLUMNS;

    fn key(&self) -> Uuid {
        self.transfer_id
    }

    fn values(&self) -> Vec<Param> {
        vec![
            self.transfer_id.into(),
            self.from_account.into(),
            self.to_account.into(),
            self.amount.into(),
            self.currency.as_str().into(),
            self.description.clone().into(),
            self.status.as_str().into(),
            self.reason.clone().into(),
            self.requested_at.into(),
            self.finished_at.into(),
            self.debit_position.into(),
            self.credit_position.into(),
            self.refund_position.into(),
        ]
    }

    fn keys_of(batch: &[Applied]) -> Vec<Uuid> {
        batch.iter().filter_map(|(_, event)| transfer_of(event)).collect()
    }

    fn fold(rows: &mut HashMap<Uuid, Self>, batch: &[Applied]) -> Vec<Uuid> {
        fold(rows, batch)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::account::RefundReason;
    use crate::domain::ids::{AccountId, TransactionId, TransferId};
    use crate::domain::money::Amount;
    use crate::projection::recorded_for_tests::recorded;
    use crate::store::RecordedEvent;

    /// A transfer id reused by another source, its debit refused at the destination and
    /// refunded, must not settle the transfer that owns the id.
    #[test]
    fn only_the_transfers_own_source_settles_it() {
        let (source, other_source, destination) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let transfer_id = TransferId(Uuid::now_v7());
        let eur = || "EUR".parse().expect("EUR");
        let debited = AccountEvent::TransferDebited {
            transfer_id,
            transaction_id: TransactionId(Uuid::now_v7()),
            to_account: AccountId(destination),
            amount: Amount::new(100).expect("amount"),
            currency: eur(),
            description: None,
            occurred_at: Utc::now(),
        };
        let refunded_elsewhere = AccountEvent::TransferRefunded {
            transfer_id,
            transaction_id: TransactionId(Uuid::now_v7()),
            to_account: AccountId(destination),
            amount: Amount::new(100).expect("amount"),
            currency: eur(),
            reason: RefundReason::DestinationNotFound,
            occurred_at: Utc::now(),
        };
        let debited_elsewhere = AccountEvent::TransferDebited {
            transfer_id,
            transaction_id: TransactionId(Uuid::now_v7()),
            to_account: AccountId(destination),
            amount: Amount::new(7).expect("amount"),
            currency: eur(),
            description: None,
            occurred_at: Utc::now(),
        };
        let credited_from_elsewhere = AccountEvent::TransferCredited {
            transfer_id,
            transaction_id: TransactionId(Uuid::now_v7()),
            from_account: AccountId(other_source),
            amount: Amount::new(100).expect("amount"),
            currency: eur(),
            description: None,
            occurred_at: Utc::now(),
        };
        let events = [
            recorded(source, &debited, 1),
            recorded(other_source, &debited_elsewhere, 2),
            recorded(other_source, &refunded_elsewhere, 3),
            recorded(destination, &credited_from_elsewhere, 4),
        ];
        let batch: Vec<Applied> = events
            .iter()
            .map(RecordedEvent::place)
            .zip([
                debited,
                debited_elsewhere,
                refunded_elsewhere,
                credited_from_elsewhere,
            ])
            .collect();
        let mut rows = HashMap::new();
        assert_eq!(fold(&mut rows, &batch), vec![transfer_id.as_uuid()]);
        let row = &rows[&transfer_id.as_uuid()];
        // The first debit opened the row, and nothing of the other source's changed it.
        assert_eq!(
            (row.from_account, row.amount, row.debit_position),
            (source, 100, 1)
        );
        assert_eq!(row.status, TransferState::Pending, "{row:?}");
        assert_eq!((row.credit_position, row.refund_position), (None, None));
        assert!(!row.is_settled(), "a pending transfer can still change");
    }
}

#[cfg(test)]
mod settled {
    use super::*;

    /// `verify` compares a settled row at once and forgets it: only right if no later event
    /// can change it, and only bounded if every finished transfer is let go.
    #[test]
    fn a_transfer_is_settled_for_verify_once_completed_or_failed_never_while_pending() {
        let row = |status| TransferRow {
            transfer_id: Uuid::now_v7(),
            from_account: Uuid::now_v7(),
            to_account: Uuid::now_v7(),
            amount: 1,
            currency: "EUR".into(),
            description: None,
            status,
            reason: None,
            requested_at: Utc::now(),
            finished_at: None,
            debit_position: 1,
            credit_position: None,
            refund_position: None,
        };
        assert!(!row(TransferState::Pending).is_settled());
        assert!(row(TransferState::Completed).is_settled());
        assert!(row(TransferState::Failed).is_settled());
    }
}
