//! `account_transactions`: one row per money movement, with the balance after it.
//!
//! This table serves the history pages and the balance at any past instant: the balance at
//! `T` is the `balance_after` of the last movement at or before `T`, one index lookup however
//! long the history is.
//!
//! Each row is [`movement`] of its event given the balance before it; [`fold`] runs it over a
//! batch, carrying each account's balance along. Both are pure: `write_batch` reads the balances the
//! batch starts from, `foldbank verify` carries them from the first event.

mod reads;

pub use reads::{BalanceAt, TransactionFilter, TransactionPage};

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{MAX_BINDS, Param, Stored, Transaction, in_statements, insert_rows, query};
use crate::domain::account::AccountEvent;
use crate::domain::ids::{AccountId, TransactionId, TransferId};
use crate::domain::money::Currency;
use crate::domain::personal::Personal;
use crate::projection::{
    Applied, InMemoryModel, Projection, ProjectionName, Replay, Rows, StoredRows, TableStart,
};
use crate::store::EventPlace;

/// What kind of money movement a row records: `deposit`, `withdrawal`, `transfer_out`,
/// `transfer_in`, `transfer_refund`, `reversal`, `hold_capture` or `overdraft_fee`.
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
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MovementKind {
    Deposit,
    Withdrawal,
    TransferOut,
    TransferIn,
    TransferRefund,
    Reversal,
    /// A hold captured: the money it paid out.
    HoldCapture,
    /// An overdraft fee, charged when a movement took the balance below zero.
    OverdraftFee,
}

impl MovementKind {
    /// Whether this is a leg of a transfer: money in flight between two accounts is
    /// `-(sum of the amounts of the legs)`.
    pub fn is_transfer_leg(self) -> bool {
        matches!(
            self,
            MovementKind::TransferOut | MovementKind::TransferIn | MovementKind::TransferRefund
        )
    }
}

crate::stored_as_text!(MovementKind);

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TransactionRow {
    #[sqlx(try_from = "Stored<Uuid>")]
    pub transaction_id: Uuid,
    #[sqlx(try_from = "Stored<Uuid>")]
    pub account_id: Uuid,
    #[sqlx(try_from = "String")]
    pub kind: MovementKind,
    /// Signed: credits positive, debits negative.
    pub amount: i64,
    pub balance_after: i64,
    pub currency: String,
    pub description: Option<String>,
    #[sqlx(try_from = "Stored<DateTime<Utc>>")]
    pub occurred_at: DateTime<Utc>,
    pub stream_version: i64,
    pub global_position: i64,
    /// For transfer legs: the transfer.
    #[sqlx(try_from = "Stored<Option<Uuid>>")]
    pub transfer_id: Option<Uuid>,
    /// For transfer legs: the account on the other side.
    #[sqlx(try_from = "Stored<Option<Uuid>>")]
    pub counterparty_account_id: Option<Uuid>,
    /// For reversals: the movement reversed.
    #[sqlx(try_from = "Stored<Option<Uuid>>")]
    pub reverses_transaction_id: Option<Uuid>,
}

/// The movement an event records, if it records one, given the balance before it.
pub fn movement(event: &AccountEvent, recorded: &EventPlace, balance_before: i64) -> Option<TransactionRow> {
    let described = Described::of(event)?;
    let amount = event.balance_change();
    Some(TransactionRow {
        transaction_id: described.transaction_id.as_uuid(),
        account_id: recorded.stream_id,
        kind: described.kind,
        amount,
        balance_after: balance_before.saturating_add(amount),
        currency: described.currency.code().to_owned(),
        description: described.description.map(|text| text.as_str().to_owned()),
        occurred_at: event.occurred_at(),
        stream_version: recorded.stream_version,
        global_position: recorded.global_position,
        transfer_id: described.leg.map(|(transfer_id, _)| transfer_id.as_uuid()),
        counterparty_account_id: described.leg.map(|(_, counterparty)| counterparty.as_uuid()),
        reverses_transaction_id: described.reverses.map(|reversed| reversed.as_uuid()),
    })
}

/// What an event says of the movement it records, before it becomes a row.
struct Described<'a> {
    kind: MovementKind,
    /// The movement's own id (a reversal's is its `reversal_id`).
    transaction_id: TransactionId,
    currency: &'a Currency,
    description: Option<&'a Personal>,
    /// For transfer legs: the transfer, and the account on the other side.
    leg: Option<(TransferId, AccountId)>,
    /// For reversals: the movement reversed.
    reverses: Option<TransactionId>,
}

impl<'a> Described<'a> {
    /// The movement `event` records; `None` for events that move no money.
    fn of(event: &'a AccountEvent) -> Option<Self> {
        let plain =
            |kind, transaction_id: &TransactionId, currency, description: &'a Option<Personal>| Described {
                kind,
                transaction_id: *transaction_id,
                currency,
                description: description.as_ref(),
                leg: None,
                reverses: None,
            };
        Some(match event {
            AccountEvent::MoneyDeposited {
                transaction_id,
                currency,
                description,
                ..
            } => plain(MovementKind::Deposit, transaction_id, currency, description),
            AccountEvent::MoneyWithdrawn {
                transaction_id,
                currency,
                description,
                ..
            } => plain(MovementKind::Withdrawal, transaction_id, currency, description),
            AccountEvent::TransferDebited {
                transfer_id,
                transaction_id,
                to_account,
                currency,
                description,
                ..
            } => Described {
                leg: Some((*transfer_id, *to_account)),
                ..plain(MovementKind::TransferOut, transaction_id, currency, description)
            },
            AccountEvent::TransferCredited {
                transfer_id,
                transaction_id,
                from_account,
                currency,
                description,
                ..
            } => Described {
                leg: Some((*transfer_id, *from_account)),
                ..plain(MovementKind::TransferIn, transaction_id, currency, description)
            },
            AccountEvent::TransferRefunded {
                transfer_id,
                transaction_id,
                to_account,
                currency,
                ..
            } => Described {
                leg: Some((*transfer_id, *to_account)),
                ..plain(MovementKind::TransferRefund, transaction_id, currency, &None)
            },
            AccountEvent::TransactionReversed {
                reversal_id,
                transaction_id,
                currency,
                ..
            } => Described {
                reverses: Some(*transaction_id),
                ..plain(MovementKind::Reversal, reversal_id, currency, &None)
            },
            AccountEvent::HoldCaptured {
                transaction_id,
                currency,
                ..
            } => plain(MovementKind::HoldCapture, transaction_id, currency, &None),
            AccountEvent::OverdraftFeeCharged {
                transaction_id,
                currency,
                ..
            } => plain(MovementKind::OverdraftFee, transaction_id, currency, &None),
            AccountEvent::AccountOpened { .. }
            | AccountEvent::AccountFrozen { .. }
            | AccountEvent::AccountUnfrozen { .. }
            | AccountEvent::AccountClosed { .. }
            | AccountEvent::HolderRenamed { .. }
            | AccountEvent::TransferCompleted { .. }
            | AccountEvent::HoldPlaced { .. }
            | AccountEvent::HoldVoided { .. }
            | AccountEvent::HoldExpired { .. }
            | AccountEvent::AccountOverdrawn { .. } => return None,
        })
    }
}

/// The rows of `batch`'s movements, given each account's balance before the batch (an account
/// not in `balances` starts at 0); leaves in `balances` each account's balance after it.
pub fn fold(balances: &mut HashMap<Uuid, i64>, batch: &[Applied]) -> Vec<TransactionRow> {
    batch
        .iter()
        .filter_map(|(recorded, event)| {
            let balance = balances.get(&recorded.stream_id).copied().unwrap_or(0);
            let row = movement(event, recorded, balance)?;
            balances.insert(recorded.stream_id, row.balance_after);
            Some(row)
        })
        .collect()
}

const TABLE: &str = "account_transactions";

const KEY: &str = "transaction_id";

const COLUMNS: &str = "transaction_id, account_id, kind, amount, balance_after, currency, description, \
    occurred_at, stream_version, global_position, transfer_id, counterparty_account_id, \
    reverses_transaction_id";

pub(crate) fn select_sql(filter: &str) -> String {
    select_from(TABLE, filter)
}

fn select_from(table: &str, filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM {table} {filter}")
}

impl TransactionRow {
    /// The row's values in the order of [`COLUMNS`].
    fn values(&self) -> Vec<Param> {
        vec![
            self.transaction_id.into(),
            self.account_id.into(),
            self.kind.as_str().into(),
            self.amount.into(),
            self.balance_after.into(),
            self.currency.as_str().into(),
            self.description.clone().into(),
            self.occurred_at.into(),
            self.stream_version.into(),
            self.global_position.into(),
            self.transfer_id.into(),
            self.counterparty_account_id.into(),
            self.reverses_transaction_id.into(),
        ]
    }

    fn keyed(&self) -> (String, Vec<Param>) {
        (self.transaction_id.to_string(), self.values())
    }
}

/// How many accounts one statement of [`balances_before`] asks about: one bind each, and one
/// for the position, within the binds a statement may have.
const ACCOUNTS_PER_STATEMENT: usize = MAX_BINDS - 1;

/// For each of `accounts`, the balance after its last movement in `table` before `position`
/// (0 before the first), in one statement per [`ACCOUNTS_PER_STATEMENT`] accounts.
async fn balances_before(
    tx: &mut Transaction,
    table: &str,
    accounts: &[Uuid],
    position: i64,
) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    let mut balances = HashMap::with_capacity(accounts.len());
    for accounts in accounts.chunks(ACCOUNTS_PER_STATEMENT) {
        let rows: Vec<BalanceBefore> = query(format!(
            "SELECT v.column1 AS account_id, COALESCE((SELECT t.balance_after FROM {table} t \
             WHERE t.account_id = v.column1 AND t.global_position < $1 \
             ORDER BY t.global_position DESC LIMIT 1), 0) AS balance FROM (VALUES "
        ))
        .bind(position)
        .values(accounts.iter().map(|account| vec![Param::from(*account)]))
        .push(") AS v")
        .fetch_all(&mut *tx)
        .await?;
        balances.extend(rows.into_iter().map(|row| (row.account_id, row.balance)));
    }
    Ok(balances)
}

#[derive(Debug, sqlx::FromRow)]
struct BalanceBefore {
    #[sqlx(try_from = "Stored<Uuid>")]
    account_id: Uuid,
    balance: i64,
}

/// The read model in memory: every movement, and each account's balance after its last one.
#[derive(Debug, Default)]
struct InMemory {
    balances: HashMap<Uuid, i64>,
    rows: HashMap<Uuid, TransactionRow>,
}

impl InMemoryModel for InMemory {
    fn fold(&mut self, batch: &[Applied]) {
        for row in fold(&mut self.balances, batch) {
            // As the table's insert: a movement already there is left alone.
            self.rows.entry(row.transaction_id).or_insert(row);
        }
    }

    /// Every movement is settled once folded: a movement row never changes.
    fn take_settled(&mut self) -> Rows {
        Rows::new(
            COLUMNS,
            self.rows.drain().map(|(_, row)| row.keyed()).collect::<Vec<_>>(),
        )
    }

    fn rows(&self) -> Rows {
        Rows::new(COLUMNS, self.rows.values().map(TransactionRow::keyed))
    }
}

/// A [`Replay`] of `account_transactions`: each account's balance after its last movement,
/// carried from one batch to the next.
///
/// Into an empty table it holds every account's balance (about 40 bytes an account, whatever
/// the length of the log: 40 MB for a million accounts) and reads nothing; into a table with
/// rows it reads those of the accounts a batch moves first.
#[derive(Debug)]
struct MovementsReplay {
    balances: HashMap<Uuid, i64>,
    table: TableStart,
}

#[async_trait::async_trait]
impl Replay for MovementsReplay {
    /// Into a table with rows, reads the balance before the batch of each account it moves (one
    /// statement; into an empty one it carries them). Computes every movement's row in memory,
    /// and inserts them: into a table with rows, in multi-row statements of up to 32,000 values, leaving alone a row already
    /// there (the batch handled by another process, whose checkpoint then wins); into an
    /// empty one, in bulk ([`Transaction::insert_bulk`]).
    async fn fold(
        &mut self,
        tx: &mut Transaction,
        table: &str,
        batch: &[Applied],
    ) -> Result<(), sqlx::Error> {
        let moving: Vec<&Applied> = batch
            .iter()
            .filter(|(recorded, event)| movement(event, recorded, 0).is_some())
            .collect();
        let Some(first) = moving.first().map(|(recorded, _)| recorded.global_position) else {
            return Ok(());
        };
        if self.table == TableStart::Stored {
            // Read afresh every batch: a live table may be written by another process.
            let mut accounts: Vec<Uuid> = moving.iter().map(|(recorded, _)| recorded.stream_id).collect();
            accounts.sort_unstable();
            accounts.dedup();
            self.balances = balances_before(&mut *tx, table, &accounts, first).await?;
        }
        let rows: Vec<Vec<Param>> = fold(&mut self.balances, batch)
            .iter()
            .map(TransactionRow::values)
            .collect();
        match self.table {
            TableStart::Empty => {
                tx.insert_bulk(table, COLUMNS, rows).await?;
            }
            TableStart::Stored => {
                for rows in in_statements(rows) {
                    insert_rows(table, COLUMNS, rows)
                        .push(" ON CONFLICT DO NOTHING")
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Nothing waits: every movement is written by the batch that folds it.
    async fn flush(&mut self, _tx: &mut Transaction, _table: &str) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct TransactionsProjection;

#[async_trait::async_trait]
impl Projection for TransactionsProjection {
    fn name(&self) -> ProjectionName {
        ProjectionName::AccountTransactions
    }

    fn table(&self) -> &'static str {
        TABLE
    }

    fn key(&self) -> &'static str {
        KEY
    }

    fn columns(&self) -> &'static str {
        COLUMNS
    }

    /// Holds a balance per account (40 bytes), whatever `held_rows` says: a movement row is
    /// written as soon as it is made.
    fn replay(&self, table: TableStart, _held_rows: usize) -> Box<dyn Replay> {
        Box::new(MovementsReplay {
            balances: HashMap::new(),
            table,
        })
    }

    fn in_memory(&self) -> Box<dyn InMemoryModel> {
        Box::new(InMemory::default())
    }

    async fn stored(
        &self,
        tx: &mut Transaction,
        table: &str,
        which: StoredRows<'_>,
    ) -> Result<Vec<(String, Vec<Param>)>, sqlx::Error> {
        let rows: Vec<TransactionRow> = which
            .narrow::<Uuid>(select_from(table, ""), KEY)
            .fetch_all(tx)
            .await?;
        Ok(rows.iter().map(TransactionRow::keyed).collect())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::ids::TransactionId;
    use crate::domain::money::Amount;
    use crate::projection::recorded_for_tests::{in_order, opening};

    #[test]
    fn a_statement_of_balances_before_asks_about_as_many_accounts_as_its_binds_allow() {
        // The position's bind and one per account: all of them, and not one more.
        assert_eq!(ACCOUNTS_PER_STATEMENT + 1, MAX_BINDS);
    }

    /// `foldbank verify` compares what this model holds with the table: an empty model would
    /// find a table of movements "consistent" with nothing.
    #[test]
    fn the_model_in_memory_holds_every_movement_until_it_hands_them_over_as_settled() {
        let account = Uuid::now_v7();
        let at = Utc::now();
        let deposit = |minor_units| AccountEvent::MoneyDeposited {
            transaction_id: TransactionId(Uuid::now_v7()),
            amount: Amount::new(minor_units).expect("amount"),
            currency: "EUR".parse().expect("EUR"),
            description: None,
            occurred_at: at,
        };
        let events = in_order(account, [opening(account, at), deposit(250), deposit(50)]);
        let batch: Vec<Applied> = events
            .iter()
            .map(|(recorded, event)| (recorded.place(), event.clone()))
            .collect();
        let mut model = InMemory::default();
        model.fold(&batch);

        let rows = model.rows();
        assert_eq!(rows.rows.len(), 2, "the two deposits, not the opening");
        let balance_after = rows.columns.iter().position(|column| *column == "balance_after");
        let mut balances: Vec<Param> = rows
            .rows
            .values()
            .map(|values| values[balance_after.expect("a balance_after column")].clone())
            .collect();
        balances.sort_by_key(|value| format!("{value:?}"));
        assert_eq!(balances, vec![Param::from(250_i64), Param::from(300_i64)]);

        // Every movement is settled once folded: handed over whole, and gone from the model.
        assert_eq!(model.take_settled(), rows);
        assert!(model.rows().rows.is_empty());
        assert!(model.take_settled().rows.is_empty());
    }
}
