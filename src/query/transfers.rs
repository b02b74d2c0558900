//! Reads of `transfers`, and of the ledger summary over `account_transactions`.

use uuid::Uuid;

use crate::db::Database;
use crate::projection::transactions::{self, TRANSFER_KINDS};
use crate::projection::transfers::{self, TransferRow};
use crate::query::{
    QueryError, ReadModels, Snapshot, begin_snapshot, checkpoint_postgres, checkpoint_sqlite,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPage {
    pub items: Vec<TransferRow>,
    /// Present when there may be more: the debit position of the last item.
    pub next: Option<i64>,
}

/// Money per currency: what the accounts hold and what is between two of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    /// The sum of all account balances.
    pub total: i64,
    /// Debited from a source, not yet credited to the destination or refunded.
    pub in_flight: i64,
}

const PAGE_FILTER: &str = "WHERE (from_account = $1 OR to_account = $1) \
    AND ($2 IS NULL OR debit_position < $2) ORDER BY debit_position DESC LIMIT $3";
const PAGE_FILTER_POSTGRES: &str = "WHERE (from_account = $1 OR to_account = $1) \
    AND ($2::bigint IS NULL OR debit_position < $2) ORDER BY debit_position DESC LIMIT $3";

fn ledger_sql() -> String {
    let legs = TRANSFER_KINDS.map(|kind| format!("'{kind}'")).join(", ");
    format!(
        "SELECT currency, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total, \
         CAST(COALESCE(SUM(CASE WHEN kind IN ({legs}) THEN amount ELSE 0 END), 0) AS BIGINT) AS legs \
         FROM account_transactions GROUP BY currency ORDER BY currency"
    )
}

impl ReadModels {
    #[tracing::instrument(skip_all, fields(transfer_id = %transfer_id))]
    pub async fn transfer(&self, transfer_id: Uuid) -> Result<Snapshot<Option<TransferRow>>, QueryError> {
        let sql = transfers::select_sql("WHERE transfer_id = $1");
        match &self.database {
            Database::Postgres(pool) => {
                let mut tx = begin_snapshot(pool).await?;
                let position = checkpoint_postgres(&mut tx, transfers::NAME).await?;
                let row = sqlx::query(&sql)
                    .bind(transfer_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let value = row.map(|row| transfers::postgres_row(&row)).transpose()?;
                Ok(Snapshot { value, position })
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.pool.begin().await?;
                let position = checkpoint_sqlite(&mut tx, transfers::NAME).await?;
                let row = sqlx::query(&sql)
                    .bind(transfer_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let value = row.map(|row| transfers::sqlite_row(&row)).transpose()?;
                Ok(Snapshot { value, position })
            }
        }
    }

    /// The transfers an account sent or received, newest first.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn account_transfers(
        &self,
        account_id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Snapshot<TransferPage>, QueryError> {
        let fetch = limit + 1;
        let (mut items, position) = match &self.database {
            Database::Postgres(pool) => {
                let mut tx = begin_snapshot(pool).await?;
                let position = checkpoint_postgres(&mut tx, transfers::NAME).await?;
                let rows = sqlx::query(&transfers::select_sql(PAGE_FILTER_POSTGRES))
                    .bind(account_id)
                    .bind(before)
                    .bind(fetch)
                    .fetch_all(&mut *tx)
                    .await?;
                let items = rows
                    .iter()
                    .map(transfers::postgres_row)
                    .collect::<Result<Vec<_>, _>>()?;
                (items, position)
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.pool.begin().await?;
                let position = checkpoint_sqlite(&mut tx, transfers::NAME).await?;
                let rows = sqlx::query(&transfers::select_sql(PAGE_FILTER))
                    .bind(account_id.to_string())
                    .bind(before)
                    .bind(fetch)
                    .fetch_all(&mut *tx)
                    .await?;
                let items = rows
                    .iter()
                    .map(transfers::sqlite_row)
                    .collect::<Result<Vec<_>, _>>()?;
                (items, position)
            }
        };
        let more = items.len() as i64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(0));
        let next = if more {
            items.last().map(|row| row.debit_position)
        } else {
            None
        };
        Ok(Snapshot {
            value: TransferPage { items, next },
            position,
        })
    }

    /// Per currency, the total of all balances and the money in flight, from one snapshot of
    /// `account_transactions`. Every movement is a row there, so the balances are the sums of
    /// the rows and the money in flight is minus the sum of the transfer legs: one table, one
    /// checkpoint, and `total + in_flight` changes only by deposits, withdrawals and reversals.
    #[tracing::instrument(skip_all)]
    pub async fn ledger(&self) -> Result<Snapshot<Vec<CurrencyTotals>>, QueryError> {
        let sql = ledger_sql();
        let (rows, position): (Vec<(String, i64, i64)>, i64) = match &self.database {
            Database::Postgres(pool) => {
                let mut tx = begin_snapshot(pool).await?;
                let position = checkpoint_postgres(&mut tx, transactions::NAME).await?;
                (sqlx::query_as(&sql).fetch_all(&mut *tx).await?, position)
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.pool.begin().await?;
                let position = checkpoint_sqlite(&mut tx, transactions::NAME).await?;
                (sqlx::query_as(&sql).fetch_all(&mut *tx).await?, position)
            }
        };
        let value = rows
            .into_iter()
            .map(|(currency, total, legs)| CurrencyTotals {
                currency,
                total,
                in_flight: legs.saturating_neg(),
            })
            .collect();
        Ok(Snapshot { value, position })
    }
}
