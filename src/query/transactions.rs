//! Reads of `account_transactions`: history pages and the balance at an instant.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Database, sqlite_time};
use crate::projection::balances::{self, BalanceRow};
use crate::projection::transactions::{self, TransactionRow};
use crate::query::{
    QueryError, ReadModels, Snapshot, begin_snapshot, checkpoint_postgres, checkpoint_sqlite,
};

/// Which movements of an account to list (newest first), and where the page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    /// Only movements at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only movements before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Start below this global position (the previous page's cursor).
    pub before: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionPage {
    pub items: Vec<TransactionRow>,
    /// Present when there may be more: the position of the last item.
    pub next: Option<i64>,
}

/// The answer to "what was the balance at `T`?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceAt {
    /// The read model knows no such account.
    UnknownAccount,
    /// The account exists but was opened after the instant.
    NotYetOpened { opened_at: DateTime<Utc> },
    Balance {
        balance: i64,
        currency: String,
        /// The stream version after the last movement at or before the instant (1 when none).
        version: i64,
    },
}

const PAGE_FILTER_POSTGRES: &str = "WHERE account_id = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2) \
    AND ($3::timestamptz IS NULL OR occurred_at < $3) AND ($4::bigint IS NULL OR global_position < $4) \
    ORDER BY global_position DESC LIMIT $5";
const PAGE_FILTER_SQLITE: &str = "WHERE account_id = $1 AND ($2 IS NULL OR occurred_at >= $2) \
    AND ($3 IS NULL OR occurred_at < $3) AND ($4 IS NULL OR global_position < $4) \
    ORDER BY global_position DESC LIMIT $5";
/// The last movement at or before an instant: one descent of `account_transactions_by_time`.
const LAST_AT: &str = "SELECT balance_after, stream_version FROM account_transactions \
    WHERE account_id = $1 AND occurred_at <= $2 ORDER BY occurred_at DESC, global_position DESC LIMIT 1";

/// These reads join both read models (the account row and its movements), which their
/// projections update independently: the snapshot reflects the position both have reached.
async fn both_checkpoints_postgres(conn: &mut sqlx::PgConnection) -> Result<i64, sqlx::Error> {
    let movements = checkpoint_postgres(conn, transactions::NAME).await?;
    let accounts = checkpoint_postgres(conn, balances::NAME).await?;
    Ok(movements.min(accounts))
}

async fn both_checkpoints_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<i64, sqlx::Error> {
    let movements = checkpoint_sqlite(conn, transactions::NAME).await?;
    let accounts = checkpoint_sqlite(conn, balances::NAME).await?;
    Ok(movements.min(accounts))
}

impl ReadModels {
    /// A page of an account's movements, newest first; `None` when the account is unknown.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn transactions(
        &self,
        account_id: Uuid,
        filter: &TransactionFilter,
    ) -> Result<Snapshot<Option<TransactionPage>>, QueryError> {
        let fetch = filter.limit + 1;
        let account_sql = balances::select_sql("WHERE account_id = $1");
        let (account, mut items, position) = match &self.database {
            Database::Postgres(pool) => {
                let mut tx = begin_snapshot(pool).await?;
                let position = both_checkpoints_postgres(&mut tx).await?;
                let account = sqlx::query(&account_sql)
                    .bind(account_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let rows = sqlx::query(&transactions::select_sql(PAGE_FILTER_POSTGRES))
                    .bind(account_id)
                    .bind(filter.from)
                    .bind(filter.to)
                    .bind(filter.before)
                    .bind(fetch)
                    .fetch_all(&mut *tx)
                    .await?;
                let items = rows
                    .iter()
                    .map(transactions::postgres_row)
                    .collect::<Result<Vec<_>, _>>()?;
                (account.is_some(), items, position)
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.pool.begin().await?;
                let position = both_checkpoints_sqlite(&mut tx).await?;
                let account = sqlx::query(&account_sql)
                    .bind(account_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let rows = sqlx::query(&transactions::select_sql(PAGE_FILTER_SQLITE))
                    .bind(account_id.to_string())
                    .bind(filter.from.map(sqlite_time))
                    .bind(filter.to.map(sqlite_time))
                    .bind(filter.before)
                    .bind(fetch)
                    .fetch_all(&mut *tx)
                    .await?;
                let items = rows
                    .iter()
                    .map(transactions::sqlite_row)
                    .collect::<Result<Vec<_>, _>>()?;
                (account.is_some(), items, position)
            }
        };
        if !account && items.is_empty() {
            return Ok(Snapshot {
                value: None,
                position,
            });
        }
        let more = items.len() as i64 > filter.limit;
        items.truncate(usize::try_from(filter.limit).unwrap_or(0));
        let next = if more {
            items.last().map(|row| row.global_position)
        } else {
            None
        };
        Ok(Snapshot {
            value: Some(TransactionPage { items, next }),
            position,
        })
    }

    /// The balance at an instant, from the movement table: an index lookup, no replay, so the
    /// cost does not grow with the length of the history.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn balance_at(
        &self,
        account_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<Snapshot<BalanceAt>, QueryError> {
        let account_sql = balances::select_sql("WHERE account_id = $1");
        let (account, last, position): (Option<BalanceRow>, Option<(i64, i64)>, i64) = match &self.database {
            Database::Postgres(pool) => {
                let mut tx = begin_snapshot(pool).await?;
                let position = both_checkpoints_postgres(&mut tx).await?;
                let account = sqlx::query(&account_sql)
                    .bind(account_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| balances::postgres_row(&row))
                    .transpose()?;
                let last = sqlx::query_as(LAST_AT)
                    .bind(account_id)
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?;
                (account, last, position)
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.pool.begin().await?;
                let position = both_checkpoints_sqlite(&mut tx).await?;
                let account = sqlx::query(&account_sql)
                    .bind(account_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(|row| balances::sqlite_row(&row))
                    .transpose()?;
                let last = sqlx::query_as(LAST_AT)
                    .bind(account_id.to_string())
                    .bind(sqlite_time(at))
                    .fetch_optional(&mut *tx)
                    .await?;
                (account, last, position)
            }
        };
        let value = match account {
            None => BalanceAt::UnknownAccount,
            Some(account) if at < account.opened_at => BalanceAt::NotYetOpened {
                opened_at: account.opened_at,
            },
            Some(account) => {
                let (balance, version) = last.unwrap_or((0, 1));
                BalanceAt::Balance {
                    balance,
                    currency: account.currency,
                    version,
                }
            }
        };
        Ok(Snapshot { value, position })
    }
}
