//! `ledger_totals`: one row per currency with the total of all balances and the money in
//! flight, kept as running sums so that `GET /ledger/summary` reads a row per currency instead
//! of every movement ever made.
//!
//! Every movement changes the total by its signed amount. Transfer legs also move the money in
//! flight the other way: a debit puts its amount in flight, the credit or refund takes it out,
//! so `in_flight = -(sum of the transfer legs)` and transfers leave `total + in_flight` alone.
//!
//! The sums are `i128`, stored as `NUMERIC` on PostgreSQL and decimal text on SQLite: balances
//! are `BIGINT`, and two of them can already add up past `i64::MAX`. At most 10^15 per movement,
//! an `i128` would need some 10^23 movements to overflow.
//!
//! `held` is the money open holds set aside: placed holds add to it, captures, voids and
//! expiries take out what they settle. It is in the balances still (a capture is the movement).
//!
//! [`LedgerRow::after`] adds one movement and [`fold`] a batch, both pure: `write_batch` runs them on
//! the rows of the currencies a batch moves, `foldbank verify` on every row in memory.

mod reads;

pub use reads::CurrencyTotals;

use std::collections::HashMap;

use crate::db::{Param, Stored};
use crate::domain::account::AccountEvent;
use crate::domain::money::Currency;
use crate::projection::keyed::KeyedRow;
use crate::projection::transactions::{TransactionRow, movement};
use crate::projection::{Applied, ProjectionName};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LedgerRow {
    pub currency: String,
    /// The sum of all account balances in this currency, in minor units.
    #[sqlx(try_from = "Stored<i128>")]
    pub total: i128,
    /// Debited from a source, not yet credited to the destination or refunded.
    #[sqlx(try_from = "Stored<i128>")]
    pub in_flight: i128,
    /// Set aside by open holds.
    #[sqlx(try_from = "Stored<i128>")]
    pub held: i128,
    /// The global position of the last movement this row reflects (replays below it are
    /// no-ops).
    pub position: i64,
}

impl LedgerRow {
    /// A currency no movement has touched yet.
    pub fn empty(currency: &str) -> Self {
        LedgerRow {
            currency: currency.to_owned(),
            total: 0,
            in_flight: 0,
            held: 0,
            position: 0,
        }
    }

    /// The row after one more movement in its currency.
    pub fn after(mut self, movement: &TransactionRow) -> Self {
        let amount = i128::from(movement.amount);
        self.total = self.total.saturating_add(amount);
        if movement.kind.is_transfer_leg() {
            self.in_flight = self.in_flight.saturating_sub(amount);
        }
        self.position = movement.global_position;
        self
    }

    /// Adds a step of a hold: what it sets aside or releases (`held_change`, signed).
    fn held_after(mut self, held_change: i64, position: i64) -> Self {
        self.held = self.held.saturating_add(i128::from(held_change));
        self.position = position;
        self
    }
}

/// Adds `batch`'s movements to `rows` (the rows of the currencies it moves, or every row);
/// answers the currencies whose row changed, in the order they first changed. A movement a row
/// already reflects (at or below its position) changes nothing.
pub fn fold(rows: &mut HashMap<String, LedgerRow>, batch: &[Applied]) -> Vec<String> {
    let mut changed: Vec<String> = Vec::new();
    for (recorded, event) in batch {
        let Some(currency) = currency_of(event) else {
            continue;
        };
        let currency = currency.code();
        let position = recorded.global_position;
        let row = rows
            .entry(currency.to_owned())
            .or_insert_with(|| LedgerRow::empty(currency));
        if row.position >= position {
            continue;
        }
        // A capture is both: the movement out, and the end of the hold.
        if let Some(movement) = movement(event, recorded, 0) {
            *row = row.clone().after(&movement);
        }
        if event.held_change() != 0 {
            *row = row.clone().held_after(event.held_change(), position);
        }
        if !changed.iter().any(|seen| seen == currency) {
            changed.push(currency.to_owned());
        }
    }
    changed
}

/// The currency whose totals `event` changes: a movement's, or a hold step's.
fn currency_of(event: &AccountEvent) -> Option<Currency> {
    let moves_money = event.balance_change() != 0 || event.held_change() != 0;
    moves_money.then(|| event.currency()).flatten()
}

/// The currencies `batch` changes, each once.
fn currencies(batch: &[Applied]) -> Vec<String> {
    let mut currencies: Vec<String> = batch
        .iter()
        .filter_map(|(_, event)| currency_of(event))
        .map(|currency| currency.code().to_owned())
        .collect();
    currencies.sort_unstable();
    currencies.dedup();
    currencies
}

const TABLE: &str = "ledger_totals";

const COLUMNS: &str = "currency, total, in_flight, held, position";

/// The wide sums are read as text on both backends (see [`Stored<i128>`](Stored)).
pub(crate) fn select_sql(filter: &str) -> String {
    LedgerRow::select_from(TABLE, filter)
}

impl KeyedRow for LedgerRow {
    type Key = String;
    const NAME: ProjectionName = ProjectionName::LedgerTotals;
    const TABLE: &'static str = TABLE;
    const KEY: &'static str = "currency";
    const COLUMNS: &'static str = COLUMNS;

    fn key(&self) -> String {
        self.currency.clone()
    }

    fn values(&self) -> Vec<Param> {
        vec![
            self.currency.as_str().into(),
            self.total.into(),
            self.in_flight.into(),
            self.held.into(),
            self.position.into(),
        ]
    }

    fn select_from(table: &str, filter: &str) -> String {
        format!(
            "SELECT currency, CAST(total AS TEXT) AS total, CAST(in_flight AS TEXT) AS in_flight, \
             CAST(held AS TEXT) AS held, position FROM {table} {filter}"
        )
    }

    fn keys_of(batch: &[Applied]) -> Vec<String> {
        currencies(batch)
    }

    fn fold(rows: &mut HashMap<String, Self>, batch: &[Applied]) -> Vec<String> {
        fold(rows, batch)
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::domain::account::AccountEvent;
    use crate::domain::ids::TransactionId;
    use crate::domain::money::Amount;
    use crate::projection::transactions::MovementKind;
    use crate::store::{RecordedEvent, codec};

    fn moved(kind: MovementKind, amount: i64, position: i64) -> TransactionRow {
        TransactionRow {
            transaction_id: Uuid::nil(),
            account_id: Uuid::nil(),
            kind,
            amount,
            balance_after: 0,
            currency: "EUR".into(),
            description: None,
            occurred_at: Utc::now(),
            stream_version: 1,
            global_position: position,
            transfer_id: None,
            counterparty_account_id: None,
            reverses_transaction_id: None,
        }
    }

    #[test]
    fn a_transfer_is_in_flight_between_its_debit_and_its_credit_and_conserves_the_sum() {
        let deposited = LedgerRow::empty("EUR").after(&moved(MovementKind::Deposit, 1_000, 1));
        let debited = deposited
            .clone()
            .after(&moved(MovementKind::TransferOut, -300, 2));
        let credited = debited.clone().after(&moved(MovementKind::TransferIn, 300, 3));

        assert_eq!((deposited.total, deposited.in_flight), (1_000, 0));
        assert_eq!((debited.total, debited.in_flight), (700, 300));
        assert_eq!((credited.total, credited.in_flight), (1_000, 0));
        assert_eq!(credited.position, 3);
    }

    /// A deposit of `amount` EUR recorded at `position` (as stream version `position`).
    fn deposit(amount: i64, position: i64) -> (RecordedEvent, AccountEvent) {
        let event = AccountEvent::MoneyDeposited {
            transaction_id: TransactionId(Uuid::now_v7()),
            amount: Amount::new(amount).expect("amount"),
            currency: "EUR".parse().expect("EUR"),
            description: None,
            occurred_at: Utc::now(),
        };
        let (event_type, payload) = codec::encode(&event).expect("encode");
        let recorded = RecordedEvent {
            global_position: position,
            stream_type: "account".into(),
            stream_id: Uuid::nil(),
            stream_version: position,
            event_id: Uuid::now_v7(),
            event_type,
            schema_version: 2,
            payload,
            metadata: serde_json::Value::Null,
            occurred_at: Utc::now(),
            recorded_at: Utc::now(),
        };
        (recorded, event)
    }

    #[test]
    fn a_batch_folded_again_changes_nothing() {
        let events = [deposit(100, 1), deposit(20, 2)];
        let batch: Vec<Applied> = events
            .iter()
            .map(|(recorded, event)| (recorded.place(), event.clone()))
            .collect();
        let mut rows = HashMap::new();
        assert_eq!(fold(&mut rows, &batch), vec!["EUR".to_owned()]);
        assert_eq!((rows["EUR"].total, rows["EUR"].position), (120, 2));
        // At-least-once delivery: the same batch again, its last movement at the row's very
        // position, is already reflected.
        assert_eq!(fold(&mut rows, &batch), Vec::<String>::new());
        assert_eq!((rows["EUR"].total, rows["EUR"].position), (120, 2));
    }

    #[test]
    fn totals_beyond_i64_stay_exact() {
        let row = LedgerRow::empty("EUR")
            .after(&moved(MovementKind::Deposit, i64::MAX, 1))
            .after(&moved(MovementKind::Deposit, i64::MAX, 2));
        assert_eq!(row.total, 2 * i128::from(i64::MAX));
    }
}
