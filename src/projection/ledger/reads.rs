//! Reads of `ledger_totals`: the ledger summary.

use crate::db::query;
use crate::projection::ledger::{self, LedgerRow};
use crate::projection::reads::{QueryError, ReadModels, Reads, Snapshot, reached};

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
    /// Set aside by open holds (still in the balances, no longer available).
    pub held: i128,
}

impl From<LedgerRow> for CurrencyTotals {
    fn from(row: LedgerRow) -> Self {
        CurrencyTotals {
            currency: row.currency,
            total: row.total,
            in_flight: row.in_flight,
            held: row.held,
        }
    }
}

impl ReadModels {
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
