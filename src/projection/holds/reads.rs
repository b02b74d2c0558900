//! Reads of `account_holds`: an account's holds a page at a time (or those open at an
//! instant), and the holds whose deadline has passed, for the expiry scheduler.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Stored, query};
use crate::projection::balances::{self, BalanceRow};
use crate::projection::holds::{self, HoldRow, HoldStatus};
use crate::projection::reads::{QueryError, ReadModels, Reads, Snapshot, next_cursor, reached};

/// Which of an account's holds to list, and where the page starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldFilter {
    pub status: Option<HoldStatus>,
    /// The holds open at this instant, each as it was then (open, nothing settled yet).
    pub at: Option<DateTime<Utc>>,
    /// Start below this placement position (the previous page's cursor).
    pub before: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldPage {
    /// Newest first.
    pub items: Vec<HoldRow>,
    /// Present when there may be more: the placement position of the last item.
    pub next: Option<i64>,
}

/// What a read of an account's holds found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldsRead {
    Page(HoldPage),
    UnknownAccount,
    /// The instant asked about precedes the account.
    NotYetOpened {
        opened_at: DateTime<Utc>,
    },
}

/// An open hold whose deadline has passed: the expiry scheduler's work.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DueHold {
    #[sqlx(try_from = "Stored<Uuid>")]
    pub account_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub hold_id: Uuid,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub expires_at: DateTime<Utc>,
}

impl ReadModels {
    /// A page of an account's holds, newest first; [`HoldsRead::UnknownAccount`] when the
    /// account is unknown, [`HoldsRead::NotYetOpened`] for an instant before it opened.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn holds(
        &self,
        account_id: Uuid,
        filter: &HoldFilter,
    ) -> Result<Snapshot<HoldsRead>, QueryError> {
        let mut select = query(holds::select_sql("WHERE account_id = ")).push_bind(account_id);
        // At an instant every hold listed was open then, whatever its status today.
        if let (Some(status), None) = (filter.status, filter.at) {
            select = select.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(at) = filter.at {
            select = select
                .push(" AND placed_at <= ")
                .push_bind(at)
                .push(" AND (settled_at IS NULL OR settled_at > ")
                .push_bind(at)
                .push(")");
        }
        if let Some(before) = filter.before {
            select = select.push(" AND placed_position < ").push_bind(before);
        }
        // One row more than asked tells whether another page follows.
        let select = select
            .push(" ORDER BY placed_position DESC LIMIT ")
            .push_bind(filter.limit + 1);

        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Holds).await?;
        let account: Option<BalanceRow> = query(balances::select_sql("WHERE account_id = $1"))
            .bind(account_id)
            .fetch_optional(&mut tx)
            .await?;
        let mut items: Vec<HoldRow> = select.fetch_all(&mut tx).await?;
        let refused = match (&account, filter.at) {
            (None, _) if items.is_empty() => Some(HoldsRead::UnknownAccount),
            (Some(account), Some(at)) if at < account.opened_at => Some(HoldsRead::NotYetOpened {
                opened_at: account.opened_at,
            }),
            _ => None,
        };
        if let Some(value) = refused {
            return Ok(Snapshot { value, position });
        }
        let next = next_cursor(&mut items, filter.limit, |row| row.placed_position);
        if filter.at.is_some() {
            items = items.into_iter().map(as_placed).collect();
        }
        Ok(Snapshot {
            value: HoldsRead::Page(HoldPage { items, next }),
            position,
        })
    }

    /// One hold of one account.
    #[tracing::instrument(skip_all, fields(account_id = %account_id, hold_id = %hold_id))]
    pub async fn hold(
        &self,
        account_id: Uuid,
        hold_id: Uuid,
    ) -> Result<Snapshot<Option<HoldRow>>, QueryError> {
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Holds).await?;
        let value = query(holds::select_sql("WHERE hold_key = $1"))
            .bind(holds::hold_key(account_id, hold_id))
            .fetch_optional(&mut tx)
            .await?;
        Ok(Snapshot { value, position })
    }

    /// Up to `limit` open holds whose deadline is at or before `now`, soonest first, the same
    /// deadline in the order of account and hold id, so that a round expires them in an order
    /// the log can be predicted from (an index range scan: `account_holds_due` holds the open
    /// holds only).
    pub async fn due_holds(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<DueHold>, QueryError> {
        // `status = 'open'` is written out, not bound: it is the partial index's own predicate.
        let due = query(
            "SELECT account_id, hold_id, expires_at FROM account_holds \
             WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at, account_id, hold_id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.database)
        .await?;
        Ok(due)
    }
}

/// A hold as it was while open: what an instant before its settlement shows.
fn as_placed(row: HoldRow) -> HoldRow {
    HoldRow {
        status: HoldStatus::Open,
        settled_at: None,
        captured: None,
        transaction_id: None,
        released: None,
        position: row.placed_position,
        ..row
    }
}
