//! `account_balances`: one row per account with its current balance, limits and status.
//!
//! The row is a fold of the account's events into a different shape than the aggregate's
//! state: [`opened`] starts it, [`evolve`] applies each later event, and [`fold`] runs them over
//! a batch. All three are pure: the [`Projection`](crate::projection::Projection) shared by
//! every keyed read model only loads and stores the rows a batch touches, and `foldbank verify`
//! folds the same code over every row in memory.

pub mod owners;
mod reads;

pub use reads::{AccountFilter, AccountPage};

use std::collections::HashMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Param, Stored, Transaction};
use crate::domain::account::{AccountEvent, AccountStatus};
use crate::projection::keyed::KeyedRow;
use crate::projection::{Applied, ProjectionName, StoredRows};
use crate::store::EventPlace;

/// An account's status as the read model stores and clients see it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
#[schema(as = AccountStatus)]
pub enum Status {
    Active,
    Frozen,
    Closed,
}

impl From<&AccountStatus> for Status {
    fn from(status: &AccountStatus) -> Self {
        match status {
            AccountStatus::Active => Status::Active,
            AccountStatus::Frozen { .. } => Status::Frozen,
            AccountStatus::Closed => Status::Closed,
        }
    }
}

crate::stored_as_text!(Status);

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BalanceRow {
    #[sqlx(try_from = "Stored<Uuid>")]
    pub account_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub owner_id: Uuid,
    pub currency: String,
    pub balance: i64,
    /// The money set aside by open holds.
    pub held: i64,
    pub overdraft_limit: i64,
    pub daily_withdrawal_limit: Option<i64>,
    /// Charged each time the balance crosses below zero.
    pub overdraft_fee: Option<i64>,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub frozen_reason: Option<String>,
    /// `owner` or `bank` while frozen.
    pub frozen_by: Option<String>,
    pub version: i64,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub opened_at: DateTime<Utc>,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub updated_at: DateTime<Utc>,
    pub position: i64,
    /// Personal data, as sealed in the events (opened by the HTTP layer).
    pub holder_name: Option<String>,
}

impl BalanceRow {
    /// Balance plus overdraft minus the money held: what a withdrawal, a transfer or a new
    /// hold may still take.
    pub fn available(&self) -> i64 {
        self.balance
            .saturating_add(self.overdraft_limit)
            .saturating_sub(self.held)
    }
}

/// The row an `AccountOpened` event creates.
pub fn opened(event: &AccountEvent, recorded: &EventPlace) -> Option<BalanceRow> {
    let AccountEvent::AccountOpened {
        account_id,
        owner_id,
        currency,
        overdraft_limit,
        daily_withdrawal_limit,
        holder_name,
        overdraft_fee,
        occurred_at,
    } = event
    else {
        return None;
    };
    Some(BalanceRow {
        account_id: account_id.as_uuid(),
        owner_id: owner_id.as_uuid(),
        currency: currency.code().to_owned(),
        balance: 0,
        held: 0,
        overdraft_limit: overdraft_limit.minor_units(),
        daily_withdrawal_limit: daily_withdrawal_limit.map(|limit| limit.minor_units()),
        overdraft_fee: overdraft_fee.map(|fee| fee.minor_units()),
        status: Status::Active,
        frozen_reason: None,
        frozen_by: None,
        version: recorded.stream_version,
        opened_at: *occurred_at,
        updated_at: *occurred_at,
        position: recorded.global_position,
        holder_name: holder_name.as_ref().map(|name| name.as_str().to_owned()),
    })
}

/// Applies one later event to the row.
pub fn evolve(mut row: BalanceRow, event: &AccountEvent, recorded: &EventPlace) -> BalanceRow {
    row.balance = row.balance.saturating_add(event.balance_change());
    row.held = row.held.saturating_add(event.held_change());
    match event {
        AccountEvent::AccountFrozen { reason, by, .. } => {
            row.status = Status::Frozen;
            row.frozen_reason = Some(reason.as_str().to_owned());
            row.frozen_by = Some(by.to_string());
        }
        AccountEvent::AccountUnfrozen { .. } => {
            row.status = Status::Active;
            row.frozen_reason = None;
            row.frozen_by = None;
        }
        AccountEvent::AccountClosed { .. } => row.status = Status::Closed,
        AccountEvent::HolderRenamed { holder_name, .. } => {
            row.holder_name = Some(holder_name.as_str().to_owned());
        }
        _ => {}
    }
    row.version = recorded.stream_version;
    row.updated_at = event.occurred_at();
    row.position = recorded.global_position;
    row
}

/// The row after `event`, given the stored row (or `None` when the event is already reflected,
/// which makes replaying a batch a no-op).
fn next_row(stored: Option<BalanceRow>, event: &AccountEvent, recorded: &EventPlace) -> Option<BalanceRow> {
    match stored {
        Some(row) if row.position >= recorded.global_position => None,
        Some(row) => Some(evolve(row, event, recorded)),
        None => opened(event, recorded),
    }
}

/// Folds `batch` into `rows` (the rows of the accounts it moves, or every row); answers the
/// accounts whose row changed, in the order they first changed.
pub fn fold(rows: &mut HashMap<Uuid, BalanceRow>, batch: &[Applied]) -> Vec<Uuid> {
    let mut changed: Vec<Uuid> = Vec::new();
    for (recorded, event) in batch {
        let stored = rows.get(&recorded.stream_id).cloned();
        if let Some(row) = next_row(stored, event, recorded) {
            if !changed.contains(&row.account_id) {
                changed.push(row.account_id);
            }
            rows.insert(row.account_id, row);
        }
    }
    changed
}

const TABLE: &str = "account_balances";

const COLUMNS: &str = "account_id, owner_id, currency, balance, available, held, \
    overdraft_limit, daily_withdrawal_limit, status, frozen_reason, frozen_by, version, opened_at, updated_at, position, \
    holder_name, overdraft_fee";

pub(crate) fn select_sql(filter: &str) -> String {
    BalanceRow::select_from(TABLE, filter)
}

impl KeyedRow for BalanceRow {
    type Key = Uuid;
    const NAME: ProjectionName = ProjectionName::AccountBalances;
    const TABLE: &'static str = TABLE;
    const KEY: &'static str = "account_id";
    const COLUMNS: &'static str = COLUMNS;

    fn key(&self) -> Uuid {
        self.account_id
    }

    fn values(&self) -> Vec<Param> {
        vec![
            self.account_id.into(),
            self.owner_id.into(),
            self.currency.as_str().into(),
            self.balance.into(),
            self.available().into(),
            self.held.into(),
            self.overdraft_limit.into(),
            self.daily_withdrawal_limit.into(),
            self.status.as_str().into(),
            self.frozen_reason.clone().into(),
            self.frozen_by.clone().into(),
            self.version.into(),
            self.opened_at.into(),
            self.updated_at.into(),
            self.position.into(),
            self.holder_name.clone().into(),
            self.overdraft_fee.into(),
        ]
    }

    fn keys_of(batch: &[Applied]) -> Vec<Uuid> {
        batch.iter().map(|(recorded, _)| recorded.stream_id).collect()
    }

    fn fold(rows: &mut HashMap<Uuid, Self>, batch: &[Applied]) -> Vec<Uuid> {
        fold(rows, batch)
    }

    /// The stored `available` column is compared as stored, not recomputed from the balance.
    fn stored(
        tx: &mut Transaction,
        table: &str,
        which: StoredRows<'_>,
    ) -> impl Future<Output = Result<Vec<(String, Vec<Param>)>, sqlx::Error>> + Send {
        let select = which.narrow::<Uuid>(BalanceRow::select_from(table, ""), Self::KEY);
        async move {
            let rows: Vec<StoredBalance> = select.fetch_all(tx).await?;
            Ok(rows
                .iter()
                .map(|stored| {
                    let (key, mut values) = stored.row.keyed();
                    values[AVAILABLE] = stored.available.into();
                    (key, values)
                })
                .collect())
        }
    }
}

/// A row as stored, with the `available` column that [`BalanceRow`] computes instead of reading.
#[derive(Debug, sqlx::FromRow)]
struct StoredBalance {
    #[sqlx(flatten)]
    row: BalanceRow,
    available: i64,
}

/// Where `available` is in [`COLUMNS`].
const AVAILABLE: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::TransactionId;
    use crate::domain::money::Amount;
    use crate::projection::recorded_for_tests::{in_order, opening};

    #[test]
    fn a_batch_folded_again_changes_nothing() {
        let account = Uuid::now_v7();
        let at = Utc::now();
        let events = in_order(
            account,
            [
                opening(account, at),
                AccountEvent::MoneyDeposited {
                    transaction_id: TransactionId(Uuid::now_v7()),
                    amount: Amount::new(250).expect("amount"),
                    currency: "EUR".parse().expect("EUR"),
                    description: None,
                    occurred_at: at,
                },
            ],
        );
        let batch: Vec<Applied> = events
            .iter()
            .map(|(recorded, event)| (recorded.place(), event.clone()))
            .collect();
        let mut rows = HashMap::new();
        assert_eq!(fold(&mut rows, &batch), vec![account]);
        let row = rows[&account].clone();
        assert_eq!((row.balance, row.version, row.position), (250, 2, 2));
        // At-least-once delivery: the same batch again, its last event at the row's very
        // position, is already reflected.
        assert_eq!(fold(&mut rows, &batch), Vec::<Uuid>::new());
        assert_eq!(rows[&account], row);
    }

    #[test]
    fn the_stored_available_column_is_where_verify_puts_it() {
        assert_eq!(
            COLUMNS.split(',').nth(AVAILABLE).map(str::trim),
            Some("available")
        );
    }
}
