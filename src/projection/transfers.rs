//! `transfers`: one row per transfer, pending until its credit (completed) or refund (failed).
//!
//! Every write is conditional (insert once, update only a pending row), so replaying an event
//! changes nothing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Query, Stored, Transaction, query};
use crate::domain::account::AccountEvent;
use crate::projection::{Applied, Projection, ProjectionName};
use crate::store::RecordedEvent;

/// Where a transfer is in its saga.
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

const COLUMNS: &str = "transfer_id, from_account, to_account, amount, currency, description, status, \
    reason, requested_at, finished_at, debit_position, credit_position, refund_position";

pub(crate) fn select_sql(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM transfers {filter}")
}

const INSERT: &str = "INSERT INTO transfers (transfer_id, from_account, to_account, amount, currency, \
    description, status, requested_at, debit_position) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8) \
    ON CONFLICT (transfer_id) DO NOTHING";
// Both updates name the source too: a transfer id reused by another source (refused at the
// destination and refunded) must not settle the transfer that owns the id.
const COMPLETE: &str = "UPDATE transfers SET status = 'completed', finished_at = $2, credit_position = $3 \
    WHERE transfer_id = $1 AND from_account = $4 AND status = 'pending'";
const FAIL: &str = "UPDATE transfers SET status = 'failed', reason = $2, finished_at = $3, refund_position = $4 \
    WHERE transfer_id = $1 AND from_account = $5 AND status = 'pending'";

#[derive(Debug, Default)]
pub struct TransfersProjection;

#[async_trait::async_trait]
impl Projection for TransfersProjection {
    fn name(&self) -> ProjectionName {
        ProjectionName::Transfers
    }

    fn tables(&self) -> &'static [&'static str] {
        &["transfers"]
    }

    /// One statement per transfer step: transfers are few beside deposits and withdrawals.
    async fn apply(&self, tx: &mut Transaction, batch: &[Applied<'_>]) -> Result<(), sqlx::Error> {
        for (recorded, event) in batch {
            if let Some(statement) = statement(recorded, event) {
                statement.execute(&mut *tx).await?;
            }
        }
        Ok(())
    }
}

/// What a transfer step changes in its row, if `event` is one.
fn statement(recorded: &RecordedEvent, event: &AccountEvent) -> Option<Query> {
    {
        let statement = match event {
            AccountEvent::TransferDebited {
                transfer_id,
                to_account,
                amount,
                currency,
                description,
                occurred_at,
                ..
            } => query(INSERT)
                .bind(transfer_id.as_uuid())
                .bind(recorded.stream_id)
                .bind(to_account.as_uuid())
                .bind(amount.minor_units())
                .bind(currency.code())
                .bind(description.as_ref().map(|text| text.as_str()))
                .bind(*occurred_at)
                .bind(recorded.global_position),
            AccountEvent::TransferCredited {
                transfer_id,
                from_account,
                occurred_at,
                ..
            } => query(COMPLETE)
                .bind(transfer_id.as_uuid())
                .bind(*occurred_at)
                .bind(recorded.global_position)
                .bind(from_account.as_uuid()),
            AccountEvent::TransferRefunded {
                transfer_id,
                reason,
                occurred_at,
                ..
            } => query(FAIL)
                .bind(transfer_id.as_uuid())
                .bind(reason.as_str())
                .bind(*occurred_at)
                .bind(recorded.global_position)
                .bind(recorded.stream_id),
            _ => return None,
        };
        Some(statement)
    }
}
