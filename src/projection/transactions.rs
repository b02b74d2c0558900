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
use crate::domain::ids::{AccountId, TransactionId, TransferId};
use crate::domain::money::Currency;
use crate::domain::text::Text;
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
    /// For transfer legs: the transfer.
    pub transfer_id: Option<Uuid>,
    /// For transfer legs: the account on the other side.
    pub counterparty_account_id: Option<Uuid>,
    /// For reversals: the movement reversed.
    pub reverses_transaction_id: Option<Uuid>,
}

/// The movement an event records, if it records one, given the balance before it.
pub fn movement(
    event: &AccountEvent,
    recorded: &RecordedEvent,
    balance_before: i64,
) -> Option<TransactionRow> {
    let row = |kind: &str, transaction_id: TransactionId, currency: &Currency, description: Option<&Text>| {
        let amount = event.balance_change();
        TransactionRow {
            transaction_id: transaction_id.as_uuid(),
            account_id: recorded.stream_id,
            kind: kind.into(),
            amount,
            balance_after: balance_before.saturating_add(amount),
            currency: currency.code().to_owned(),
            description: description.map(|text| text.as_str().to_owned()),
            occurred_at: event.occurred_at(),
            stream_version: recorded.stream_version,
            global_position: recorded.global_position,
            transfer_id: None,
            counterparty_account_id: None,
            reverses_transaction_id: None,
        }
    };
    let leg = |row: TransactionRow, transfer_id: TransferId, counterparty: AccountId| TransactionRow {
        transfer_id: Some(transfer_id.as_uuid()),
        counterparty_account_id: Some(counterparty.as_uuid()),
        ..row
    };
    Some(match event {
        AccountEvent::MoneyDeposited {
            transaction_id,
            currency,
            description,
            ..
        } => row("deposit", *transaction_id, currency, description.as_ref()),
        AccountEvent::MoneyWithdrawn {
            transaction_id,
            currency,
            description,
            ..
        } => row("withdrawal", *transaction_id, currency, description.as_ref()),
        AccountEvent::TransferDebited {
            transfer_id,
            transaction_id,
            to_account,
            currency,
            description,
            ..
        } => leg(
            row("transfer_out", *transaction_id, currency, description.as_ref()),
            *transfer_id,
            *to_account,
        ),
        AccountEvent::TransferCredited {
            transfer_id,
            transaction_id,
            from_account,
            currency,
            description,
            ..
        } => leg(
            row("transfer_in", *transaction_id, currency, description.as_ref()),
            *transfer_id,
            *from_account,
        ),
        AccountEvent::TransferRefunded {
            transfer_id,
            transaction_id,
            to_account,
            currency,
            ..
        } => leg(
            row("transfer_refund", *transaction_id, currency, None),
            *transfer_id,
            *to_account,
        ),
        AccountEvent::TransactionReversed {
            reversal_id,
            transaction_id,
            currency,
            ..
        } => TransactionRow {
            reverses_transaction_id: Some(transaction_id.as_uuid()),
            ..row("reversal", *reversal_id, currency, None)
        },
        AccountEvent::AccountOpened { .. }
        | AccountEvent::AccountFrozen { .. }
        | AccountEvent::AccountUnfrozen { .. }
        | AccountEvent::AccountClosed { .. }
        | AccountEvent::TransferCompleted { .. } => return None,
    })
}

/// The kinds of movement that are legs of a transfer: money in flight between two accounts is
/// `-(sum of their amounts)`.
pub const TRANSFER_KINDS: [&str; 3] = ["transfer_out", "transfer_in", "transfer_refund"];

const COLUMNS: &str = "transaction_id, account_id, kind, amount, balance_after, currency, description, \
    occurred_at, stream_version, global_position, transfer_id, counterparty_account_id, \
    reverses_transaction_id";

pub(crate) fn select_sql(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM account_transactions {filter}")
}

const INSERT: &str = "INSERT INTO account_transactions (transaction_id, account_id, kind, amount, \
    balance_after, currency, description, occurred_at, stream_version, global_position, transfer_id, \
    counterparty_account_id, reverses_transaction_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING";

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
        transfer_id: row.try_get("transfer_id")?,
        counterparty_account_id: row.try_get("counterparty_account_id")?,
        reverses_transaction_id: row.try_get("reverses_transaction_id")?,
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
        transfer_id: optional_uuid(row.try_get("transfer_id")?)?,
        counterparty_account_id: optional_uuid(row.try_get("counterparty_account_id")?)?,
        reverses_transaction_id: optional_uuid(row.try_get("reverses_transaction_id")?)?,
    })
}

fn optional_uuid(text: Option<&str>) -> Result<Option<Uuid>, sqlx::Error> {
    text.map(parse_uuid).transpose()
}

#[derive(Debug, Default)]
pub struct TransactionsProjection;

#[async_trait::async_trait]
impl Projection for TransactionsProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["account_transactions"]
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
            .bind(row.transfer_id)
            .bind(row.counterparty_account_id)
            .bind(row.reverses_transaction_id)
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
            .bind(row.transfer_id.map(|id| id.to_string()))
            .bind(row.counterparty_account_id.map(|id| id.to_string()))
            .bind(row.reverses_transaction_id.map(|id| id.to_string()))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
