//! Reads of `account_transactions`: history pages, the balance at an instant and the latest
//! balance.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Stored, Transaction, query};
use crate::projection::balances::{self, BalanceRow};
use crate::projection::reads::{QueryError, ReadModels, Reads, Snapshot, next_cursor, reached};
use crate::projection::transactions::{self, TransactionRow};

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

/// The answer to "what was the balance at `T`?" (or "what is it now?").
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
        /// The instant the balance is for: the one asked about, or for the latest balance the
        /// time of the last event the read models reflect.
        as_of: DateTime<Utc>,
    },
}

/// The last movement at or before an instant: one descent of `account_transactions_by_time`.
const LAST_AT: &str = "SELECT balance_after, stream_version FROM account_transactions \
    WHERE account_id = $1 AND occurred_at <= $2 ORDER BY occurred_at DESC, global_position DESC LIMIT 1";

/// The account's last movement, whatever its date: one descent of
/// `account_transactions_by_position`.
const LAST: &str = "SELECT balance_after, stream_version, occurred_at FROM account_transactions \
    WHERE account_id = $1 ORDER BY global_position DESC LIMIT 1";

/// The account's row in `account_balances`, if the read model knows it.
async fn account_row(tx: &mut Transaction, account_id: Uuid) -> Result<Option<BalanceRow>, sqlx::Error> {
    query(balances::select_sql("WHERE account_id = $1"))
        .bind(account_id)
        .fetch_optional(tx)
        .await
}

impl ReadModels {
    /// A page of an account's movements, newest first; `None` when the account is unknown.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn transactions(
        &self,
        account_id: Uuid,
        filter: &TransactionFilter,
    ) -> Result<Snapshot<Option<TransactionPage>>, QueryError> {
        let mut select = query(transactions::select_sql("WHERE account_id = ")).push_bind(account_id);
        if let Some(from) = filter.from {
            select = select.push(" AND occurred_at >= ").push_bind(from);
        }
        if let Some(to) = filter.to {
            select = select.push(" AND occurred_at < ").push_bind(to);
        }
        if let Some(before) = filter.before {
            select = select.push(" AND global_position < ").push_bind(before);
        }
        // One row more than asked tells whether another page follows.
        let select = select
            .push(" ORDER BY global_position DESC LIMIT ")
            .push_bind(filter.limit + 1);

        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Movements).await?;
        let account = account_row(&mut tx, account_id).await?;
        let mut items: Vec<TransactionRow> = select.fetch_all(&mut tx).await?;
        if account.is_none() && items.is_empty() {
            return Ok(Snapshot {
                value: None,
                position,
            });
        }
        let next = next_cursor(&mut items, filter.limit, |row| row.global_position);
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
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Movements).await?;
        let account = account_row(&mut tx, account_id).await?;
        let last: Option<(i64, i64)> = query(LAST_AT)
            .bind(account_id)
            .bind(at)
            .fetch_optional(&mut tx)
            .await?;
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
                    as_of: at,
                }
            }
        };
        Ok(Snapshot { value, position })
    }

    /// The latest balance: the last movement the read model holds, whatever the clock of the
    /// node that dated it, so a movement dated ahead of this node's clock is not left out.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn latest_balance(&self, account_id: Uuid) -> Result<Snapshot<BalanceAt>, QueryError> {
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Movements).await?;
        let account = account_row(&mut tx, account_id).await?;
        let last: Option<(i64, i64, Stored<DateTime<Utc>>)> =
            query(LAST).bind(account_id).fetch_optional(&mut tx).await?;
        let value = match account {
            None => BalanceAt::UnknownAccount,
            Some(account) => {
                let (balance, version, moved_at) = last
                    .map_or((0, 1, account.updated_at), |(balance, version, at)| {
                        (balance, version, at.0)
                    });
                BalanceAt::Balance {
                    balance,
                    currency: account.currency,
                    version,
                    // The two read models advance independently: the later of what each reflects.
                    as_of: account.updated_at.max(moved_at),
                }
            }
        };
        Ok(Snapshot { value, position })
    }
}
