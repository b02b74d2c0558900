//! Reads of `transfers`, and of the ledger summary (`ledger_totals`).

use uuid::Uuid;

use crate::db::query;
use crate::projection::ledger::{self, LedgerRow};
use crate::projection::transfers::{self, TransferRow};
use crate::query::accounts::next_cursor;
use crate::query::{QueryError, ReadModels, Reads, Snapshot, reached};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferPage {
    pub items: Vec<TransferRow>,
    /// Present when there may be more: the debit position of the last item.
    pub next: Option<i64>,
}

/// Money per currency: what the accounts hold and what is between two of them.
///
/// Exact whatever the sums: `i128`, where one balance is an `i64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    /// The sum of all account balances.
    pub total: i128,
    /// Debited from a source, not yet credited to the destination or refunded.
    pub in_flight: i128,
}

impl From<LedgerRow> for CurrencyTotals {
    fn from(row: LedgerRow) -> Self {
        CurrencyTotals {
            currency: row.currency,
            total: row.total,
            in_flight: row.in_flight,
        }
    }
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

    /// Per currency, the total of all balances and the money in flight: the running sums of
    /// `ledger_totals`, one row per currency, with the checkpoint they reflect. Every movement
    /// is summed there, so the totals are the sums of the balances and `total + in_flight`
    /// changes only by deposits, withdrawals and reversals.
    #[tracing::instrument(skip_all)]
    pub async fn ledger(&self) -> Result<Snapshot<Vec<CurrencyTotals>>, QueryError> {
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Ledger).await?;
        let rows: Vec<LedgerRow> = query(ledger::select_sql("ORDER BY currency"))
            .fetch_all(&mut tx)
            .await?;
        let value = rows.into_iter().map(CurrencyTotals::from).collect();
        Ok(Snapshot { value, position })
    }
}
