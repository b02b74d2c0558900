//! The state `decide` needs, folded from the events by `evolve`.
//!
//! It serializes so that a snapshot can store it: a cache of the fold at some version, never a
//! source of truth. It holds only what rules need and stays small however long the account
//! lives: the balance and terms, today's withdrawals, and the account's transfers. History a
//! rule needs beyond that (the movement a reversal names) is read from the log by the command
//! handler and handed to `decide` in the command.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::AccountEvent;
use crate::domain::ids::{AccountId, HoldId, OwnerId, TransactionId, TransferId};
use crate::domain::money::{Amount, Currency, Limit, Money};
use crate::domain::personal::Personal;

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
    /// What each crossing below zero costs, if anything (fixed when the account opens).
    pub overdraft_fee: Option<Amount>,
    /// The crossings below zero whose fee is not charged yet, by the movement that caused each:
    /// a fee is charged only while its cause is here, so once per cause however often the
    /// policy asks. Empty again once the policy caught up: the state stays small.
    pub fees_due: BTreeSet<TransactionId>,
    /// Withdrawals on the most recent day with any: the history the daily limit needs, and no
    /// more, so the state stays small however long the account lives.
    pub withdrawals_today: Option<DailyWithdrawals>,
    pub status: AccountStatus,
    /// Sealed, as the events hold it: no rule reads it, but the account as it was at an
    /// instant (`GET /accounts/{id}?at=`) shows it.
    pub holder_name: Option<Personal>,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Transfers this account sent, for idempotency and for the close rule.
    pub transfers_out: BTreeMap<TransferId, OutgoingTransfer>,
    /// Transfers this account received, with their source: a replayed credit must not pay
    /// twice, and an id already used by another source must not pass for a replay.
    pub transfers_in: BTreeMap<TransferId, AccountId>,
    /// Every hold placed on the account, open or over: the open ones set money aside, and a
    /// capture, a void or an expiry of one that is over is answered with its status.
    pub holds: BTreeMap<HoldId, Hold>,
}

/// Money set aside on the account until captured, voided or expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Minor units held while open (what was placed).
    pub amount: i64,
    pub status: HoldStatus,
    pub expires_at: DateTime<Utc>,
    /// The UTC day it was placed: a release on that same day gives the amount back to the
    /// daily withdrawal limit, which counted it when it was placed.
    pub placed_on: NaiveDate,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HoldStatus {
    Open,
    Captured,
    Voided,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MovementKind {
    Deposit,
    Withdrawal,
    /// A leg of a transfer (debit, credit or refund): never reversible by itself.
    TransferLeg,
    Reversal,
    /// A hold's capture: money out, reversed as a withdrawal is (the bank's chargeback).
    HoldCapture,
    /// An overdraft fee: money out, reversed as a withdrawal is (the bank waiving it).
    OverdraftFee,
}

/// One money movement as the account's events tell it: what a reversal needs to know.
///
/// The state keeps no list of movements (it would grow with every deposit, and be cloned and
/// snapshotted with it). A reversal names one movement; the command handler reads the events
/// that mention it from the log and [`Movement::find`] folds them, so the rule sees the
/// movement's whole story however old the account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub kind: MovementKind,
    /// Minor units, positive.
    pub amount: i64,
    pub occurred_at: DateTime<Utc>,
    pub reversed: bool,
}

impl Movement {
    /// The movement `transaction_id` as told by `events` (the account's events that mention
    /// it, or simply all of them): `None` when none records it.
    pub fn find<'a>(
        events: impl IntoIterator<Item = &'a AccountEvent>,
        transaction_id: TransactionId,
    ) -> Option<Movement> {
        let mut found: Option<Movement> = None;
        let mut reversed = false;
        for event in events {
            let recorded = |kind, amount: i64| Movement {
                kind,
                amount: amount.saturating_abs(),
                occurred_at: event.occurred_at(),
                reversed: false,
            };
            match event {
                AccountEvent::MoneyDeposited {
                    transaction_id: id,
                    amount,
                    ..
                } if *id == transaction_id => {
                    found = Some(recorded(MovementKind::Deposit, amount.minor_units()));
                }
                AccountEvent::MoneyWithdrawn {
                    transaction_id: id,
                    amount,
                    ..
                } if *id == transaction_id => {
                    found = Some(recorded(MovementKind::Withdrawal, amount.minor_units()));
                }
                AccountEvent::TransferDebited {
                    transaction_id: id,
                    amount,
                    ..
                }
                | AccountEvent::TransferCredited {
                    transaction_id: id,
                    amount,
                    ..
                }
                | AccountEvent::TransferRefunded {
                    transaction_id: id,
                    amount,
                    ..
                } if *id == transaction_id => {
                    found = Some(recorded(MovementKind::TransferLeg, amount.minor_units()));
                }
                AccountEvent::HoldCaptured {
                    transaction_id: id,
                    amount,
                    ..
                } if *id == transaction_id => {
                    found = Some(recorded(MovementKind::HoldCapture, amount.minor_units()));
                }
                AccountEvent::OverdraftFeeCharged {
                    transaction_id: id,
                    amount,
                    ..
                } if *id == transaction_id => {
                    found = Some(recorded(MovementKind::OverdraftFee, amount.minor_units()));
                }
                AccountEvent::TransactionReversed {
                    reversal_id,
                    signed_amount,
                    ..
                } if *reversal_id == transaction_id => {
                    found = Some(recorded(MovementKind::Reversal, *signed_amount));
                }
                AccountEvent::TransactionReversed {
                    transaction_id: id, ..
                } if *id == transaction_id => {
                    reversed = true;
                }
                _ => {}
            }
        }
        found.map(|movement| Movement { reversed, ..movement })
    }
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
    /// The UTC day of the debit: a refund on that same day gives the amount back to the daily
    /// withdrawal limit.
    pub debited_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountStatus {
    Active,
    Frozen { reason: Personal, by: FrozenBy },
    Closed,
}

/// Who froze an account, which decides who may lift the freeze: the owner freezes for a lost
/// card and may lift its own freeze; the bank freezes for fraud or a court order, and only the
/// bank lifts that.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FrozenBy {
    Owner,
    Bank,
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
    /// What can still be withdrawn, transferred or held: balance plus overdraft minus the
    /// money held (saturating: it is a report, the rules themselves compare against the floor).
    pub fn available(&self) -> i64 {
        self.balance
            .minor_units
            .saturating_add(self.overdraft_limit.minor_units())
            .saturating_sub(self.held())
    }

    /// The money set aside by open holds.
    pub fn held(&self) -> i64 {
        self.holds
            .values()
            .filter(|hold| hold.status == HoldStatus::Open)
            .fold(0_i64, |held, hold| held.saturating_add(hold.amount))
    }

    /// Whether any hold is still open.
    pub fn has_open_holds(&self) -> bool {
        self.holds.values().any(|hold| hold.status == HoldStatus::Open)
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

    pub(super) fn set_transfer_status(&mut self, id: TransferId, status: TransferStatus) {
        if let Some(transfer) = self.transfers_out.get_mut(&id) {
            transfer.status = status;
        }
    }

    /// Ends an open hold with `status`, giving what it released back to the daily limit (see
    /// [`Account::restore_withdrawal`]).
    pub(super) fn settle_hold(&mut self, id: HoldId, status: HoldStatus, released: i64, on: NaiveDate) {
        let Some(hold) = self
            .holds
            .get_mut(&id)
            .filter(|hold| hold.status == HoldStatus::Open)
        else {
            return;
        };
        hold.status = status;
        let placed_on = hold.placed_on;
        self.restore_withdrawal(placed_on, on, released);
    }

    pub(super) fn record_withdrawal(&mut self, day: NaiveDate, amount: i64) {
        let total = self.withdrawn_on(day).saturating_add(amount);
        self.withdrawals_today = Some(DailyWithdrawals { day, total });
    }

    /// Gives a refunded transfer's amount back to the daily limit: a transfer that never
    /// happened should not use up the day. Only when it was debited on the day of the refund and
    /// that day is still the one tracked; an earlier day's total no longer limits anything.
    pub(super) fn restore_withdrawal(&mut self, debited_on: NaiveDate, refunded_on: NaiveDate, amount: i64) {
        match &mut self.withdrawals_today {
            Some(daily) if daily.day == debited_on && debited_on == refunded_on => {
                daily.total = daily.total.saturating_sub(amount).max(0);
            }
            _ => {}
        }
    }
}
