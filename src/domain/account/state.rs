//! The state `decide` needs, folded from the events by `evolve`.
//!
//! It serializes so that a snapshot can store it (`crate::store::snapshot`): a cache of the fold
//! at some version, never a source of truth.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::{AccountId, OwnerId, TransactionId, TransferId};
use crate::domain::money::{Currency, Limit, Money};
use crate::domain::text::Text;

/// An account either does not exist yet or has been opened; commands other than `Open` on a
/// `NotOpened` account are refused, so "deposit before open" cannot be expressed in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// `NotOpened` only ever precedes the first event; boxing `Account` would add an indirection to
// every fold for nothing.
#[allow(clippy::large_enum_variant)]
pub enum AccountState {
    NotOpened,
    Opened(Account),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: AccountId,
    pub owner_id: OwnerId,
    pub currency: Currency,
    pub balance: Money,
    pub overdraft_limit: Limit,
    pub daily_withdrawal_limit: Option<Limit>,
    /// Withdrawals on the most recent day with any: the history the daily limit needs, and no
    /// more, so the state stays small however long the account lives.
    pub withdrawals_today: Option<DailyWithdrawals>,
    pub status: AccountStatus,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every money movement by id: what a reversal needs to know (kind, amount, age, whether
    /// it was reversed already). History a rule needs is part of the state.
    pub movements: BTreeMap<TransactionId, Movement>,
    /// Transfers this account sent, for idempotency and for the close rule.
    pub transfers_out: BTreeMap<TransferId, OutgoingTransfer>,
    /// Transfers this account received, with their source: a replayed credit must not pay
    /// twice, and an id already used by another source must not pass for a replay.
    pub transfers_in: BTreeMap<TransferId, AccountId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MovementKind {
    Deposit,
    Withdrawal,
    /// A leg of a transfer (debit, credit or refund): never reversible by itself.
    TransferLeg,
    Reversal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub kind: MovementKind,
    pub amount: i64,
    pub occurred_at: DateTime<Utc>,
    pub reversed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferStatus {
    /// Debited here, not yet credited there or refunded.
    Pending,
    Completed,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingTransfer {
    pub to_account: AccountId,
    pub amount: i64,
    pub status: TransferStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountStatus {
    Active,
    Frozen { reason: Text },
    Closed,
}

impl AccountStatus {
    /// The status as clients see it: `active`, `frozen` or `closed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Frozen { .. } => "frozen",
            AccountStatus::Closed => "closed",
        }
    }
}

/// The sum of withdrawals on one UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyWithdrawals {
    pub day: NaiveDate,
    pub total: i64,
}

impl Account {
    /// What can still be withdrawn: balance plus overdraft (saturating: it is a report, the
    /// withdrawal rule itself compares against the floor).
    pub fn available(&self) -> i64 {
        self.balance
            .minor_units
            .saturating_add(self.overdraft_limit.minor_units())
    }

    /// The total withdrawn on `day` so far.
    pub fn withdrawn_on(&self, day: NaiveDate) -> i64 {
        match self.withdrawals_today {
            Some(daily) if daily.day == day => daily.total,
            _ => 0,
        }
    }

    /// Whether any outgoing transfer is still in flight.
    pub fn has_pending_transfers(&self) -> bool {
        self.transfers_out
            .values()
            .any(|transfer| transfer.status == TransferStatus::Pending)
    }

    pub(super) fn record_movement(
        &mut self,
        id: TransactionId,
        kind: MovementKind,
        amount: crate::domain::money::Amount,
        occurred_at: DateTime<Utc>,
    ) {
        self.movements.insert(
            id,
            Movement {
                kind,
                amount: amount.minor_units(),
                occurred_at,
                reversed: false,
            },
        );
    }

    pub(super) fn set_transfer_status(&mut self, id: TransferId, status: TransferStatus) {
        if let Some(transfer) = self.transfers_out.get_mut(&id) {
            transfer.status = status;
        }
    }

    pub(super) fn record_withdrawal(&mut self, day: NaiveDate, amount: i64) {
        let total = self.withdrawn_on(day).saturating_add(amount);
        self.withdrawals_today = Some(DailyWithdrawals { day, total });
    }
}
