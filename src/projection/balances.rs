//! `account_balances`: one row per account with its current balance, limits and status.
//!
//! The row is a fold of the account's events into a different shape than the aggregate's
//! state: [`opened`] starts it, [`evolve`] applies each later event. Both are pure; the
//! [`Projection`] impl only loads and stores rows.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row, SqliteConnection};
use uuid::Uuid;

use crate::db::{parse_sqlite_time, sqlite_time};
use crate::domain::account::AccountEvent;
use crate::projection::{Projection, ProjectionError, parse_uuid};
use crate::store::RecordedEvent;

pub const NAME: &str = "account_balances";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub account_id: Uuid,
    pub owner_id: Uuid,
    pub currency: String,
    pub balance: i64,
    pub overdraft_limit: i64,
    pub daily_withdrawal_limit: Option<i64>,
    pub status: String,
    pub frozen_reason: Option<String>,
    pub version: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub position: i64,
}

impl BalanceRow {
    /// Balance plus overdraft: what can still be withdrawn.
    pub fn available(&self) -> i64 {
        self.balance.saturating_add(self.overdraft_limit)
    }
}

/// The row an `AccountOpened` event creates.
pub fn opened(event: &AccountEvent, recorded: &RecordedEvent) -> Option<BalanceRow> {
    let AccountEvent::AccountOpened {
        account_id,
        owner_id,
        currency,
        overdraft_limit,
        daily_withdrawal_limit,
        occurred_at,
    } = event
    else {
        return None;
    };
    Some(BalanceRow {
        account_id: account_id.as_uuid(),
        owner_id: owner_id.as_uuid(),
        currency: currency.code().to_owned(),
        balance: 0,
        overdraft_limit: overdraft_limit.minor_units(),
        daily_withdrawal_limit: daily_withdrawal_limit.map(|limit| limit.minor_units()),
        status: "active".into(),
        frozen_reason: None,
        version: recorded.stream_version,
        opened_at: *occurred_at,
        updated_at: *occurred_at,
        position: recorded.global_position,
    })
}

/// Applies one later event to the row.
pub fn evolve(mut row: BalanceRow, event: &AccountEvent, recorded: &RecordedEvent) -> BalanceRow {
    row.balance = row.balance.saturating_add(event.balance_change());
    match event {
        AccountEvent::AccountFrozen { reason, .. } => {
            row.status = "frozen".into();
            row.frozen_reason = Some(reason.as_str().to_owned());
        }
        AccountEvent::AccountUnfrozen { .. } => {
            row.status = "active".into();
            row.frozen_reason = None;
        }
        AccountEvent::AccountClosed { .. } => row.status = "closed".into(),
        _ => {}
    }
    row.version = recorded.stream_version;
    row.updated_at = event.occurred_at();
    row.position = recorded.global_position;
    row
}

/// The row after `event`, given the stored row (or `None` when the event is already reflected,
/// which makes replaying a batch a no-op).
fn next_row(
    stored: Option<BalanceRow>,
    event: &AccountEvent,
    recorded: &RecordedEvent,
) -> Option<BalanceRow> {
    match stored {
        Some(row) if row.position >= recorded.global_position => None,
        Some(row) => Some(evolve(row, event, recorded)),
        None => opened(event, recorded),
    }
}

#[derive(Debug, Default)]
pub struct BalancesProjection;

const COLUMNS: &str = "account_id, owner_id, currency, balance, available, overdraft_limit, \
    daily_withdrawal_limit, status, frozen_reason, version, opened_at, updated_at, position";

/// `INSERT ... ON CONFLICT DO UPDATE`: one statement for the first and every later version.
fn upsert_sql() -> String {
    format!(
        "INSERT INTO account_balances ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (account_id) DO UPDATE SET balance = excluded.balance, \
         available = excluded.available, status = excluded.status, \
         frozen_reason = excluded.frozen_reason, version = excluded.version, \
         updated_at = excluded.updated_at, position = excluded.position"
    )
}

pub(crate) fn select_sql(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM account_balances {filter}")
}

pub(crate) fn postgres_row(row: &sqlx::postgres::PgRow) -> Result<BalanceRow, sqlx::Error> {
    Ok(BalanceRow {
        account_id: row.try_get("account_id")?,
        owner_id: row.try_get("owner_id")?,
        currency: row.try_get("currency")?,
        balance: row.try_get("balance")?,
        overdraft_limit: row.try_get("overdraft_limit")?,
        daily_withdrawal_limit: row.try_get("daily_withdrawal_limit")?,
        status: row.try_get("status")?,
        frozen_reason: row.try_get("frozen_reason")?,
        version: row.try_get("version")?,
        opened_at: row.try_get("opened_at")?,
        updated_at: row.try_get("updated_at")?,
        position: row.try_get("position")?,
    })
}

pub(crate) fn sqlite_row(row: &sqlx::sqlite::SqliteRow) -> Result<BalanceRow, sqlx::Error> {
    Ok(BalanceRow {
        account_id: parse_uuid(row.try_get("account_id")?)?,
        owner_id: parse_uuid(row.try_get("owner_id")?)?,
        currency: row.try_get("currency")?,
        balance: row.try_get("balance")?,
        overdraft_limit: row.try_get("overdraft_limit")?,
        daily_withdrawal_limit: row.try_get("daily_withdrawal_limit")?,
        status: row.try_get("status")?,
        frozen_reason: row.try_get("frozen_reason")?,
        version: row.try_get("version")?,
        opened_at: parse_sqlite_time(row.try_get("opened_at")?)?,
        updated_at: parse_sqlite_time(row.try_get("updated_at")?)?,
        position: row.try_get("position")?,
    })
}

#[async_trait::async_trait]
impl Projection for BalancesProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["account_balances"]
    }

    async fn apply_postgres(
        &self,
        conn: &mut PgConnection,
        recorded: &RecordedEvent,
        event: &AccountEvent,
    ) -> Result<(), ProjectionError> {
        let stored = sqlx::query(&select_sql("WHERE account_id = $1"))
            .bind(recorded.stream_id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| postgres_row(&row))
            .transpose()?;
        let Some(row) = next_row(stored, event, recorded) else {
            return Ok(());
        };
        sqlx::query(&upsert_sql())
            .bind(row.account_id)
            .bind(row.owner_id)
            .bind(&row.currency)
            .bind(row.balance)
            .bind(row.available())
            .bind(row.overdraft_limit)
            .bind(row.daily_withdrawal_limit)
            .bind(&row.status)
            .bind(&row.frozen_reason)
            .bind(row.version)
            .bind(row.opened_at)
            .bind(row.updated_at)
            .bind(row.position)
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
        let stored = sqlx::query(&select_sql("WHERE account_id = $1"))
            .bind(recorded.stream_id.to_string())
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| sqlite_row(&row))
            .transpose()?;
        let Some(row) = next_row(stored, event, recorded) else {
            return Ok(());
        };
        sqlx::query(&upsert_sql())
            .bind(row.account_id.to_string())
            .bind(row.owner_id.to_string())
            .bind(&row.currency)
            .bind(row.balance)
            .bind(row.available())
            .bind(row.overdraft_limit)
            .bind(row.daily_withdrawal_limit)
            .bind(&row.status)
            .bind(&row.frozen_reason)
            .bind(row.version)
            .bind(sqlite_time(row.opened_at))
            .bind(sqlite_time(row.updated_at))
            .bind(row.position)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
