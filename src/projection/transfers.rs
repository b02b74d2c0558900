//! `transfers`: one row per transfer, pending until its credit (completed) or refund (failed).
//!
//! Every write is conditional (insert once, update only a pending row), so replaying an event
//! changes nothing.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row, SqliteConnection};
use uuid::Uuid;

use crate::db::{parse_sqlite_time, sqlite_time};
use crate::domain::account::AccountEvent;
use crate::projection::{Projection, ProjectionError, parse_uuid};
use crate::store::RecordedEvent;

pub const NAME: &str = "transfers";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    pub transfer_id: Uuid,
    pub from_account: Uuid,
    pub to_account: Uuid,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub requested_at: DateTime<Utc>,
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

pub(crate) fn postgres_row(row: &sqlx::postgres::PgRow) -> Result<TransferRow, sqlx::Error> {
    Ok(TransferRow {
        transfer_id: row.try_get("transfer_id")?,
        from_account: row.try_get("from_account")?,
        to_account: row.try_get("to_account")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        requested_at: row.try_get("requested_at")?,
        finished_at: row.try_get("finished_at")?,
        debit_position: row.try_get("debit_position")?,
        credit_position: row.try_get("credit_position")?,
        refund_position: row.try_get("refund_position")?,
    })
}

pub(crate) fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<TransferRow, sqlx::Error> {
    Ok(TransferRow {
        transfer_id: parse_uuid(row.try_get("transfer_id")?)?,
        from_account: parse_uuid(row.try_get("from_account")?)?,
        to_account: parse_uuid(row.try_get("to_account")?)?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        reason: row.try_get("reason")?,
        requested_at: parse_sqlite_time(row.try_get("requested_at")?)?,
        finished_at: row
            .try_get::<Option<&str>, _>("finished_at")?
            .map(parse_sqlite_time)
            .transpose()?,
        debit_position: row.try_get("debit_position")?,
        credit_position: row.try_get("credit_position")?,
        refund_position: row.try_get("refund_position")?,
    })
}

#[derive(Debug, Default)]
pub struct TransfersProjection;

#[async_trait::async_trait]
impl Projection for TransfersProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["transfers"]
    }

    async fn apply_postgres(
        &self,
        conn: &mut PgConnection,
        recorded: &RecordedEvent,
        event: &AccountEvent,
    ) -> Result<(), ProjectionError> {
        match event {
            AccountEvent::TransferDebited {
                transfer_id,
                to_account,
                amount,
                currency,
                description,
                occurred_at,
                ..
            } => {
                sqlx::query(INSERT)
                    .bind(transfer_id.as_uuid())
                    .bind(recorded.stream_id)
                    .bind(to_account.as_uuid())
                    .bind(amount.minor_units())
                    .bind(currency.code())
                    .bind(description.as_ref().map(|text| text.as_str()))
                    .bind(occurred_at)
                    .bind(recorded.global_position)
                    .execute(&mut *conn)
                    .await?;
            }
            AccountEvent::TransferCredited {
                transfer_id,
                from_account,
                occurred_at,
                ..
            } => {
                sqlx::query(COMPLETE)
                    .bind(transfer_id.as_uuid())
                    .bind(occurred_at)
                    .bind(recorded.global_position)
                    .bind(from_account.as_uuid())
                    .execute(&mut *conn)
                    .await?;
            }
            AccountEvent::TransferRefunded {
                transfer_id,
                reason,
                occurred_at,
                ..
            } => {
                sqlx::query(FAIL)
                    .bind(transfer_id.as_uuid())
                    .bind(<&'static str>::from(reason))
                    .bind(occurred_at)
                    .bind(recorded.global_position)
                    .bind(recorded.stream_id)
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    async fn apply_sqlite(
        &self,
        conn: &mut SqliteConnection,
        recorded: &RecordedEvent,
        event: &AccountEvent,
    ) -> Result<(), ProjectionError> {
        match event {
            AccountEvent::TransferDebited {
                transfer_id,
                to_account,
                amount,
                currency,
                description,
                occurred_at,
                ..
            } => {
                sqlx::query(INSERT)
                    .bind(transfer_id.to_string())
                    .bind(recorded.stream_id.to_string())
                    .bind(to_account.to_string())
                    .bind(amount.minor_units())
                    .bind(currency.code())
                    .bind(description.as_ref().map(|text| text.as_str()))
                    .bind(sqlite_time(*occurred_at))
                    .bind(recorded.global_position)
                    .execute(&mut *conn)
                    .await?;
            }
            AccountEvent::TransferCredited {
                transfer_id,
                from_account,
                occurred_at,
                ..
            } => {
                sqlx::query(COMPLETE)
                    .bind(transfer_id.to_string())
                    .bind(sqlite_time(*occurred_at))
                    .bind(recorded.global_position)
                    .bind(from_account.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
            AccountEvent::TransferRefunded {
                transfer_id,
                reason,
                occurred_at,
                ..
            } => {
                sqlx::query(FAIL)
                    .bind(transfer_id.to_string())
                    .bind(<&'static str>::from(reason))
                    .bind(sqlite_time(*occurred_at))
                    .bind(recorded.global_position)
                    .bind(recorded.stream_id.to_string())
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }
}
