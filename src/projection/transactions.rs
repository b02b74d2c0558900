//! `account_transactions`: one row per money movement, with the balance after it.
//!
//! This table serves the history pages and the balance at any past instant: the balance at
//! `T` is the `balance_after` of the last movement at or before `T`, one index lookup however
//! long the history is.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row, SqliteConnection};
use uuid::Uuid;

use crate::db::{parse_sqlite_time, sqlite_time};
use crate::domain::account::AccountEvent;
use crate::projection::{Projection, ProjectionError, parse_uuid};
use crate::store::RecordedEvent;

pub const NAME: &str = "account_transactions";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRow {
    pub transaction_id: Uuid,
    pub account_id: Uuid,
    pub kind: String,
    /// Signed: credits positive, debits negative.
    pub amount: i64,
    pub balance_after: i64,
    pub currency: String,
    pub description: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub stream_version: i64,
    pub global_position: i64,
}

/// The movement an event records, if it records one, given the balance before it.
pub fn movement(
    event: &AccountEvent,
    recorded: &RecordedEvent,
    balance_before: i64,
) -> Option<TransactionRow> {
    let (kind, transaction_id, amount, currency, description, occurred_at) = match event {
        AccountEvent::MoneyDeposited {
            transaction_id,
            amount,
            currency,
            description,
            occurred_at,
        } => (
            "deposit",
            transaction_id,
            amount.minor_units(),
            currency,
            description,
            occurred_at,
        ),
        AccountEvent::MoneyWithdrawn {
            transaction_id,
            amount,
            currency,
            description,
            occurred_at,
        } => (
            "withdrawal",
            transaction_id,
            -amount.minor_units(),
            currency,
            description,
            occurred_at,
        ),
        _ => return None,
    };
    Some(TransactionRow {
        transaction_id: transaction_id.as_uuid(),
        account_id: recorded.stream_id,
        kind: kind.into(),
        amount,
        balance_after: balance_before.saturating_add(amount),
        currency: currency.code().to_owned(),
        description: description.as_ref().map(|text| text.as_str().to_owned()),
        occurred_at: *occurred_at,
        stream_version: recorded.stream_version,
        global_position: recorded.global_position,
    })
}

const COLUMNS: &str = "transaction_id, account_id, kind, amount, balance_after, currency, description, \
    occurred_at, stream_version, global_position";

pub(crate) fn select_sql(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM account_transactions {filter}")
}

const INSERT: &str = "INSERT INTO account_transactions (transaction_id, account_id, kind, amount, \
    balance_after, currency, description, occurred_at, stream_version, global_position) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING";

/// The balance after the account's latest movement before `position` (0 before the first).
const BALANCE_BEFORE: &str = "SELECT balance_after FROM account_transactions \
    WHERE account_id = $1 AND global_position < $2 ORDER BY global_position DESC LIMIT 1";

const ALREADY_APPLIED: &str = "SELECT 1 FROM account_transactions WHERE global_position = $1";

pub(crate) fn postgres_row(row: &sqlx::postgres::PgRow) -> Result<TransactionRow, sqlx::Error> {
    Ok(TransactionRow {
        transaction_id: row.try_get("transaction_id")?,
        account_id: row.try_get("account_id")?,
        kind: row.try_get("kind")?,
        amount: row.try_get("amount")?,
        balance_after: row.try_get("balance_after")?,
        currency: row.try_get("currency")?,
        description: row.try_get("description")?,
        occurred_at: row.try_get("occurred_at")?,
        stream_version: row.try_get("stream_version")?,
        global_position: row.try_get("global_position")?,
    })
}

pub(crate) fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<TransactionRow, sqlx::Error> {
    Ok(TransactionRow {
        transaction_id: parse_uuid(row.try_get("transaction_id")?)?,
        account_id: parse_uuid(row.try_get("account_id")?)?,
        kind: row.try_get("kind")?,
        amount: row.try_get("amount")?,
        balance_after: row.try_get("balance_after")?,
        currency: row.try_get("currency")?,
        description: row.try_get("description")?,
        occurred_at: parse_sqlite_time(row.try_get("occurred_at")?)?,
        stream_version: row.try_get("stream_version")?,
        global_position: row.try_get("global_position")?,
    })
}

#[derive(Debug, Default)]
pub struct TransactionsProjection;

#[async_trait::async_trait]
impl Projection for TransactionsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn apply_postgres(
        &self,
        conn: &mut PgConnection,
        recorded: &RecordedEvent,
        event: &AccountEvent,
    ) -> Result<(), ProjectionError> {
        if movement(event, recorded, 0).is_none() {
            return Ok(());
        }
        let applied = sqlx::query(ALREADY_APPLIED)
            .bind(recorded.global_position)
            .fetch_optional(&mut *conn)
            .await?;
        if applied.is_some() {
            return Ok(());
        }
        let before: Option<i64> = sqlx::query_scalar(BALANCE_BEFORE)
            .bind(recorded.stream_id)
            .bind(recorded.global_position)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = movement(event, recorded, before.unwrap_or(0)) else {
            return Ok(());
        };
        sqlx::query(INSERT)
            .bind(row.transaction_id)
            .bind(row.account_id)
            .bind(&row.kind)
            .bind(row.amount)
            .bind(row.balance_after)
            .bind(&row.currency)
            .bind(&row.description)
            .bind(row.occurred_at)
            .bind(row.stream_version)
            .bind(row.global_position)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn apply_sqlite(
        &self,
        conn: &mut SqliteConnection,
        recorded: &RecordedEvent,
        event: &AccountEvent,
    ) -> Result<(), ProjectionError> {
        if movement(event, recorded, 0).is_none() {
            return Ok(());
        }
        let applied = sqlx::query(ALREADY_APPLIED)
            .bind(recorded.global_position)
            .fetch_optional(&mut *conn)
            .await?;
        if applied.is_some() {
            return Ok(());
        }
        let before: Option<i64> = sqlx::query_scalar(BALANCE_BEFORE)
            .bind(recorded.stream_id.to_string())
            .bind(recorded.global_position)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(row) = movement(event, recorded, before.unwrap_or(0)) else {
            return Ok(());
        };
        sqlx::query(INSERT)
            .bind(row.transaction_id.to_string())
            .bind(row.account_id.to_string())
            .bind(&row.kind)
            .bind(row.amount)
            .bind(row.balance_after)
            .bind(&row.currency)
            .bind(&row.description)
            .bind(sqlite_time(row.occurred_at))
            .bind(row.stream_version)
            .bind(row.global_position)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
