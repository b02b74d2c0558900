//! Reads of `transfers`, and of the ledger summary over `account_transactions`.

use strum::VariantArray;
use uuid::Uuid;

use crate::db::query;
use crate::projection::ProjectionName;
use crate::projection::transactions::MovementKind;
use crate::projection::transfers::{self, TransferRow};
use crate::query::accounts::next_cursor;
use crate::query::{QueryError, ReadModels, Snapshot, reached};

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

fn ledger_sql() -> String {
    let legs = MovementKind::VARIANTS
        .iter()
        .filter(|kind| kind.is_transfer_leg())
        .map(|kind| format!("'{}'", kind.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT currency, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total, \
         CAST(COALESCE(SUM(CASE WHEN kind IN ({legs}) THEN amount ELSE 0 END), 0) AS BIGINT) AS legs \
         FROM account_transactions GROUP BY currency ORDER BY currency"
    )
}

impl ReadModels {
    #[tracing::instrument(skip_all, fields(transfer_id = %transfer_id))]
    pub async fn transfer(&self, transfer_id: Uuid) -> Result<Snapshot<Option<TransferRow>>, QueryError> {
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, &[ProjectionName::Transfers]).await?;
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
        let position = reached(&mut tx, &[ProjectionName::Transfers]).await?;
        let mut items: Vec<TransferRow> = select.fetch_all(&mut tx).await?;
        let next = next_cursor(&mut items, limit, |row| row.debit_position);
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
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, &[ProjectionName::AccountTransactions]).await?;
        let rows: Vec<(String, i64, i64)> = query(ledger_sql()).fetch_all(&mut tx).await?;
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
