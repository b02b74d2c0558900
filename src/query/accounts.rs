//! Reads of `account_balances`: one account, or a keyset-paginated list.

use uuid::Uuid;

use crate::db::Database;
use crate::projection::balances::{self, BalanceRow};
use crate::query::{
    QueryError, ReadModels, Snapshot, begin_snapshot, checkpoint_postgres, checkpoint_sqlite,
};

/// Which accounts to list, and where the page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub owner_id: Option<Uuid>,
    pub status: Option<String>,
    /// Start after this account id (the previous page's cursor).
    pub after: Option<Uuid>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPage {
    pub items: Vec<BalanceRow>,
    /// Present when there may be more: the id of the last item.
    pub next: Option<Uuid>,
}

impl ReadModels {
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn account(&self, account_id: Uuid) -> Result<Snapshot<Option<BalanceRow>>, QueryError> {
        let sql = balances::select_sql("WHERE account_id = $1");
        match &self.database {
            Database::Postgres(pool) => {
                let mut tx = begin_snapshot(pool).await?;
                let position = checkpoint_postgres(&mut tx, balances::NAME).await?;
                let row = sqlx::query(&sql)
                    .bind(account_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let value = row.map(|row| balances::postgres_row(&row)).transpose()?;
                Ok(Snapshot { value, position })
            }
            Database::Sqlite(sqlite) => {
                let mut tx = sqlite.pool.begin().await?;
                let position = checkpoint_sqlite(&mut tx, balances::NAME).await?;
                let row = sqlx::query(&sql)
                    .bind(account_id.to_string())
                    .fetch_optional(&mut *tx)
                    .await?;
                let value = row.map(|row| balances::sqlite_row(&row)).transpose()?;
                Ok(Snapshot { value, position })
            }
        }
    }

    #[tracing::instrument(skip_all)]
    pub async fn accounts(&self, filter: &AccountFilter) -> Result<Snapshot<AccountPage>, QueryError> {
        // One row more than asked tells whether another page follows.
        let fetch = filter.limit + 1;
        let (mut items, position) = match &self.database {
            Database::Postgres(pool) => {
                let sql = balances::select_sql(
                    "WHERE ($1::uuid IS NULL OR owner_id = $1) AND ($2::text IS NULL OR status = $2) \
                     AND ($3::uuid IS NULL OR account_id > $3) ORDER BY account_id LIMIT $4",
                );
                let mut tx = begin_snapshot(pool).await?;
                let position = checkpoint_postgres(&mut tx, balances::NAME).await?;
                let rows = sqlx::query(&sql)
                    .bind(filter.owner_id)
                    .bind(&filter.status)
                    .bind(filter.after)
                    .bind(fetch)
                    .fetch_all(&mut *tx)
                    .await?;
                let items = rows
                    .iter()
                    .map(balances::postgres_row)
                    .collect::<Result<Vec<_>, _>>()?;
                (items, position)
            }
            Database::Sqlite(sqlite) => {
                let sql = balances::select_sql(
                    "WHERE ($1 IS NULL OR owner_id = $1) AND ($2 IS NULL OR status = $2) \
                     AND ($3 IS NULL OR account_id > $3) ORDER BY account_id LIMIT $4",
                );
                let mut tx = sqlite.pool.begin().await?;
                let position = checkpoint_sqlite(&mut tx, balances::NAME).await?;
                let rows = sqlx::query(&sql)
                    .bind(filter.owner_id.map(|id| id.to_string()))
                    .bind(&filter.status)
                    .bind(filter.after.map(|id| id.to_string()))
                    .bind(fetch)
                    .fetch_all(&mut *tx)
                    .await?;
                let items = rows
                    .iter()
                    .map(balances::sqlite_row)
                    .collect::<Result<Vec<_>, _>>()?;
                (items, position)
            }
        };
        let more = items.len() as i64 > filter.limit;
        items.truncate(usize::try_from(filter.limit).unwrap_or(0));
        let next = if more {
            items.last().map(|row| row.account_id)
        } else {
            None
        };
        Ok(Snapshot {
            value: AccountPage { items, next },
            position,
        })
    }
}
