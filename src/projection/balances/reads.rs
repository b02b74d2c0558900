//! Reads of `account_balances`: one account, or a keyset-paginated list.

use uuid::Uuid;

use crate::db::query;
use crate::projection::balances::{self, BalanceRow, Status};
use crate::projection::reads::{QueryError, ReadModels, Reads, Snapshot, next_cursor, reached};

/// Which accounts to list, and where the page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub owner_id: Option<Uuid>,
    pub status: Option<Status>,
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
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Accounts).await?;
        let value = query(balances::select_sql("WHERE account_id = $1"))
            .bind(account_id)
            .fetch_optional(&mut tx)
            .await?;
        Ok(Snapshot { value, position })
    }

    #[tracing::instrument(skip_all)]
    pub async fn accounts(&self, filter: &AccountFilter) -> Result<Snapshot<AccountPage>, QueryError> {
        let mut select = query(balances::select_sql("WHERE 1 = 1"));
        if let Some(owner_id) = filter.owner_id {
            select = select.push(" AND owner_id = ").push_bind(owner_id);
        }
        if let Some(status) = filter.status {
            select = select.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(after) = filter.after {
            select = select.push(" AND account_id > ").push_bind(after);
        }
        // One row more than asked tells whether another page follows.
        let select = select
            .push(" ORDER BY account_id LIMIT ")
            .push_bind(filter.limit + 1);

        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Accounts).await?;
        let mut items: Vec<BalanceRow> = select.fetch_all(&mut tx).await?;
        let next = next_cursor(&mut items, filter.limit, |row| row.account_id);
        Ok(Snapshot {
            value: AccountPage { items, next },
            position,
        })
    }
}
