//! Reads of `transfers`: one transfer, or an account's, a page at a time.

use uuid::Uuid;

use crate::db::query;
use crate::projection::reads::{QueryError, ReadModels, Reads, Snapshot, next_cursor, reached};
use crate::projection::transfers::{self, TransferRow};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPage {
    pub items: Vec<TransferRow>,
    /// Present when there may be more: the debit position of the last item.
    pub next: Option<i64>,
}

impl ReadModels {
    #[tracing::instrument(skip_all, fields(transfer_id = %transfer_id))]
    pub async fn transfer(&self, transfer_id: Uuid) -> Result<Snapshot<Option<TransferRow>>, QueryError> {
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Transfers).await?;
        let value = query(transfers::select_sql("WHERE transfer_id = $1"))
            .bind(transfer_id)
            .fetch_optional(&mut tx)
            .await?;
        Ok(Snapshot { value, position })
    }

    /// The transfers an account sent or received, newest first.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn account_transfers(
        &self,
        account_id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Snapshot<TransferPage>, QueryError> {
        let mut select = query(transfers::select_sql(
            "WHERE (from_account = $1 OR to_account = $1)",
        ))
        .bind(account_id);
        if let Some(before) = before {
            select = select.push(" AND debit_position < ").push_bind(before);
        }
        // One row more than asked tells whether another page follows.
        let select = select
            .push(" ORDER BY debit_position DESC LIMIT ")
            .push_bind(limit + 1);

        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Transfers).await?;
        let mut items: Vec<TransferRow> = select.fetch_all(&mut tx).await?;
        let next = next_cursor(&mut items, limit, |row| row.debit_position);
        Ok(Snapshot {
            value: TransferPage { items, next },
            position,
        })
    }
}
