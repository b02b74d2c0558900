//! A model of the rules for the property tests: the rules restated as plainly as possible, with
//! none of the decider's code, so that the two can be checked against each other.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::domain::account::{
    AccountCommand, CaptureHold, ChargeOverdraftFee, CompleteTransfer, CreditTransfer, DebitTransfer,
    Deposit, ExpireHold, MovementKind, OpenAccount, PlaceHold, RefundTransfer, Reverse, TransferStatus,
    VoidHold, Withdraw,
};
use crate::domain::ids::{AccountId, HoldId, TransactionId, TransferId};
use crate::domain::money::{Currency, Limit, MAX_BALANCE_MINOR_UNITS};

/// What the model expects of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Breaks a rule: an error.
    Refused,
    /// Was done before: accepted with no events.
    AlreadyDone,
    /// One event, moving the balance by `balance_change`.
    Accepted { balance_change: i64 },
}

/// A transfer out, as the model remembers it.
#[derive(Debug)]
struct Sent {
    to_account: AccountId,
    amount: i64,
    status: TransferStatus,
    debited_on: NaiveDate,
}

/// A movement, as the model remembers it.
#[derive(Debug)]
struct Moved {
    kind: MovementKind,
    amount: i64,
    occurred_at: DateTime<Utc>,
    reversed: bool,
}

/// A hold, as the model remembers it.
#[derive(Debug)]
struct Held {
    amount: i64,
    open: bool,
    expires_at: DateTime<Utc>,
    placed_at: DateTime<Utc>,
}

/// The rules restated as plainly as possible, to check `decide` against. Withdrawals are kept
/// per day for the whole history rather than for the latest day only, as `Account` does.
#[derive(Debug)]
pub(super) struct Model {
    id: AccountId,
    currency: Currency,
    overdraft_limit: i64,
    daily_limit: Option<i64>,
    pub(super) balance: i64,
    /// What each crossing below zero costs, if anything.
    overdraft_fee: Option<i64>,
    /// The crossings whose fee is not charged yet, by the movement that crossed.
    fees_due: BTreeSet<TransactionId>,
    /// The overdraft fees charged so far (what may take the balance past the overdraft floor).
    pub(super) fees_charged: i64,
    /// Whether the command handled last took the balance from zero or more to below zero on
    /// an account with a fee: its movement is then followed by `AccountOverdrawn`.
    pub(super) crossed: bool,
    frozen: bool,
    closed: bool,
    /// Money that left at the owner's request (withdrawals and transfers out), per UTC day. A
    /// transfer refunded on the day of its debit gives its amount back; reversals give nothing
    /// back.
    withdrawn_per_day: BTreeMap<NaiveDate, i64>,
    sent: BTreeMap<TransferId, Sent>,
    received: BTreeSet<TransferId>,
    movements: BTreeMap<TransactionId, Moved>,
    holds: BTreeMap<HoldId, Held>,
}

impl Model {
    pub(super) fn opened(terms: &OpenAccount) -> Model {
        let mut model = Model {
            id: terms.account_id,
            currency: terms.currency,
            overdraft_limit: terms.overdraft_limit.minor_units(),
            daily_limit: terms.daily_withdrawal_limit.map(Limit::minor_units),
            balance: 0,
            overdraft_fee: terms.overdraft_fee.map(|fee| fee.minor_units()),
            fees_due: BTreeSet::new(),
            fees_charged: 0,
            crossed: false,
            frozen: false,
            closed: false,
            withdrawn_per_day: BTreeMap::new(),
            sent: BTreeMap::new(),
            received: BTreeSet::new(),
            movements: BTreeMap::new(),
            holds: BTreeMap::new(),
        };
        if let Some((transaction_id, amount)) = terms.initial_deposit {
            model.balance = amount.minor_units();
            model.record(
                transaction_id,
                MovementKind::Deposit,
                amount.minor_units(),
                terms.occurred_at,
            );
        }
        model
    }

    fn withdrawn_on(&self, day: NaiveDate) -> i64 {
        self.withdrawn_per_day.get(&day).copied().unwrap_or(0)
    }

    /// The money open holds set aside.
    pub(super) fn held(&self) -> i64 {
        self.holds
            .values()
            .filter(|hold| hold.open)
            .map(|hold| hold.amount)
            .sum()
    }

    /// Whether `amount` can leave without touching the overdraft floor or the money held.
    fn can_spend(&self, amount: i64) -> bool {
        self.balance - self.held() - amount >= -self.overdraft_limit
    }

    /// Whether `amount` may leave now at the owner's request (or be held for a payment): not
    /// frozen, the overdraft floor, the money held and the daily limit respected.
    fn may_pay_out(&self, amount: i64, at: DateTime<Utc>) -> bool {
        let withdrawn_today = self.withdrawn_on(at.date_naive());
        !self.frozen
            && self.can_spend(amount)
            && self
                .daily_limit
                .is_none_or(|limit| withdrawn_today + amount <= limit)
    }

    /// A credit the account asks for keeps the balance at most the maximum an account holds.
    fn has_room_for(&self, credit: i64) -> bool {
        self.balance + credit <= MAX_BALANCE_MINOR_UNITS
    }

    fn has_pending(&self) -> bool {
        self.sent
            .values()
            .any(|sent| sent.status == TransferStatus::Pending)
    }

    /// Decides `command` by the rules and, when it is accepted, applies it.
    pub(super) fn handle(&mut self, command: &AccountCommand) -> Verdict {
        let verdict = self.judge(command);
        self.crossed = false;
        if let Verdict::Accepted { balance_change } = verdict {
            let before = self.balance;
            self.balance += balance_change;
            self.apply(command);
            // Money the owner spent (not a fee, not a reversal) that took the balance below zero.
            let spent = match command {
                AccountCommand::Withdraw(Withdraw { transaction_id, .. })
                | AccountCommand::DebitTransfer(DebitTransfer { transaction_id, .. })
                | AccountCommand::CaptureHold(CaptureHold { transaction_id, .. }) => Some(*transaction_id),
                _ => None,
            };
            if let Some(cause) =
                spent.filter(|_| self.overdraft_fee.is_some() && before >= 0 && self.balance < 0)
            {
                self.crossed = true;
                self.fees_due.insert(cause);
            }
        }
        verdict
    }

    fn judge(&self, command: &AccountCommand) -> Verdict {
        let accept_if = |allowed: bool, balance_change: i64| {
            if allowed {
                Verdict::Accepted { balance_change }
            } else {
                Verdict::Refused
            }
        };
        // A repeated transfer step is answered before any rule, closed account or not.
        let sent_status = |transfer_id| self.sent.get(transfer_id).map(|sent: &Sent| sent.status);
        let repeat = match command {
            AccountCommand::DebitTransfer(DebitTransfer {
                transfer_id,
                to_account,
                amount,
                ..
            }) => self
                .sent
                .get(transfer_id)
                .is_some_and(|sent| sent.to_account == *to_account && sent.amount == amount.minor_units()),
            AccountCommand::CreditTransfer(CreditTransfer { transfer_id, .. }) => {
                self.received.contains(transfer_id)
            }
            AccountCommand::CompleteTransfer(CompleteTransfer { transfer_id, .. }) => {
                sent_status(transfer_id) == Some(TransferStatus::Completed)
            }
            AccountCommand::RefundTransfer(RefundTransfer { transfer_id, .. }) => {
                sent_status(transfer_id) == Some(TransferStatus::Refunded)
            }
            // So are a hold placed again with the same terms, and an expiry of a hold that is
            // over.
            AccountCommand::PlaceHold(PlaceHold {
                hold_id,
                amount,
                currency,
                expires_at,
                ..
            }) => self.holds.get(hold_id).is_some_and(|held| {
                held.amount == amount.minor_units()
                    && *currency == self.currency
                    && held.expires_at == *expires_at
            }),
            AccountCommand::ExpireHold(ExpireHold { hold_id, .. }) => {
                self.holds.get(hold_id).is_some_and(|held| !held.open)
            }
            // So is a fee not due: charged already, or never recorded.
            AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee { cause, .. }) => {
                !self.fees_due.contains(cause)
            }
            _ => false,
        };
        if repeat {
            return Verdict::AlreadyDone;
        }
        if self.closed {
            return Verdict::Refused;
        }
        match command {
            AccountCommand::Open(_) => Verdict::Refused,
            // Due (a charge of a fee not due was answered above as a repeat): the fee, even
            // past the overdraft floor, but not below the floor of every balance.
            AccountCommand::ChargeOverdraftFee(_) => match self.overdraft_fee {
                Some(fee) => accept_if(self.balance - fee >= -MAX_BALANCE_MINOR_UNITS, -fee),
                None => Verdict::AlreadyDone,
            },
            AccountCommand::Deposit(Deposit { amount, currency, .. }) => accept_if(
                *currency == self.currency && self.has_room_for(amount.minor_units()),
                amount.minor_units(),
            ),
            AccountCommand::Withdraw(Withdraw {
                amount,
                currency,
                occurred_at,
                ..
            }) => {
                let amount = amount.minor_units();
                accept_if(
                    *currency == self.currency && self.may_pay_out(amount, *occurred_at),
                    -amount,
                )
            }
            AccountCommand::Freeze(_) => accept_if(!self.frozen, 0),
            AccountCommand::RenameHolder(_) => accept_if(true, 0),
            AccountCommand::Unfreeze(_) => accept_if(self.frozen, 0),
            AccountCommand::Close(_) => accept_if(
                !self.frozen
                    && self.balance == 0
                    && !self.has_pending()
                    && self.held() == 0
                    && self.fees_due.is_empty(),
                0,
            ),
            AccountCommand::DebitTransfer(DebitTransfer {
                transfer_id,
                to_account,
                amount,
                currency,
                occurred_at,
                ..
            }) => {
                let amount = amount.minor_units();
                match self.sent.get(transfer_id) {
                    Some(sent) if sent.to_account == *to_account && sent.amount == amount => {
                        Verdict::AlreadyDone
                    }
                    Some(_) => Verdict::Refused,
                    None => accept_if(
                        *to_account != self.id
                            && *currency == self.currency
                            && self.may_pay_out(amount, *occurred_at),
                        -amount,
                    ),
                }
            }
            AccountCommand::CreditTransfer(CreditTransfer {
                transfer_id,
                amount,
                currency,
                ..
            }) => {
                if self.received.contains(transfer_id) {
                    Verdict::AlreadyDone
                } else {
                    accept_if(
                        *currency == self.currency && self.has_room_for(amount.minor_units()),
                        amount.minor_units(),
                    )
                }
            }
            AccountCommand::CompleteTransfer(CompleteTransfer { transfer_id, .. }) => {
                match self.sent.get(transfer_id).map(|sent| sent.status) {
                    Some(TransferStatus::Pending) => Verdict::Accepted { balance_change: 0 },
                    Some(TransferStatus::Completed) => Verdict::AlreadyDone,
                    Some(TransferStatus::Refunded) | None => Verdict::Refused,
                }
            }
            AccountCommand::RefundTransfer(RefundTransfer { transfer_id, .. }) => {
                match self.sent.get(transfer_id) {
                    Some(sent) if sent.status == TransferStatus::Pending => Verdict::Accepted {
                        balance_change: sent.amount,
                    },
                    Some(sent) if sent.status == TransferStatus::Refunded => Verdict::AlreadyDone,
                    _ => Verdict::Refused,
                }
            }
            AccountCommand::Reverse(Reverse {
                transaction_id,
                occurred_at,
                ..
            }) => {
                let Some(original) = self.movements.get(transaction_id) else {
                    return Verdict::Refused;
                };
                if original.reversed || *occurred_at > original.occurred_at + Duration::days(30) {
                    return Verdict::Refused;
                }
                match original.kind {
                    MovementKind::Deposit => {
                        accept_if(!self.frozen && self.can_spend(original.amount), -original.amount)
                    }
                    MovementKind::Withdrawal | MovementKind::HoldCapture | MovementKind::OverdraftFee => {
                        accept_if(self.has_room_for(original.amount), original.amount)
                    }
                    MovementKind::TransferLeg | MovementKind::Reversal => Verdict::Refused,
                }
            }
            AccountCommand::PlaceHold(PlaceHold {
                hold_id,
                amount,
                currency,
                expires_at,
                occurred_at,
                ..
            }) => match self.holds.get(hold_id) {
                Some(_) => Verdict::Refused,
                None => {
                    let lasts = *expires_at - *occurred_at;
                    accept_if(
                        lasts >= Duration::seconds(1)
                            && lasts <= Duration::days(30)
                            && *currency == self.currency
                            && self.may_pay_out(amount.minor_units(), *occurred_at),
                        0,
                    )
                }
            },
            AccountCommand::CaptureHold(CaptureHold {
                hold_id,
                amount,
                occurred_at,
                ..
            }) => match self.holds.get(hold_id) {
                Some(held) if held.open && *occurred_at < held.expires_at => {
                    let captured = amount.map_or(held.amount, |amount| amount.minor_units());
                    accept_if(captured <= held.amount, -captured)
                }
                _ => Verdict::Refused,
            },
            AccountCommand::VoidHold(VoidHold { hold_id, occurred_at }) => match self.holds.get(hold_id) {
                Some(held) => accept_if(held.open && *occurred_at < held.expires_at, 0),
                None => Verdict::Refused,
            },
            AccountCommand::ExpireHold(ExpireHold { hold_id, occurred_at }) => {
                match self.holds.get(hold_id) {
                    Some(held) => accept_if(*occurred_at >= held.expires_at, 0),
                    None => Verdict::Refused,
                }
            }
        }
    }

    /// Ends an open hold, releasing `released` of it: given back to the daily limit when
    /// released on the day it was placed.
    fn release(&mut self, hold_id: HoldId, released: i64, at: DateTime<Utc>) {
        let placed_at = match self.holds.get_mut(&hold_id) {
            Some(held) => {
                held.open = false;
                held.placed_at
            }
            None => return,
        };
        if placed_at.date_naive() == at.date_naive() {
            self.count_toward_daily_limit(-released, at);
        }
    }

    fn record(&mut self, id: TransactionId, kind: MovementKind, amount: i64, occurred_at: DateTime<Utc>) {
        let moved = Moved {
            kind,
            amount,
            occurred_at,
            reversed: false,
        };
        self.movements.insert(id, moved);
    }

    fn count_toward_daily_limit(&mut self, amount: i64, at: DateTime<Utc>) {
        *self.withdrawn_per_day.entry(at.date_naive()).or_default() += amount;
    }

    /// The bookkeeping of an accepted command; the balance is already updated.
    fn apply(&mut self, command: &AccountCommand) {
        match command {
            AccountCommand::Open(_) | AccountCommand::RenameHolder(_) => {}
            AccountCommand::ChargeOverdraftFee(ChargeOverdraftFee {
                cause,
                transaction_id,
                occurred_at,
            }) => {
                let fee = self.overdraft_fee.unwrap_or(0);
                self.fees_due.remove(cause);
                self.fees_charged += fee;
                self.record(*transaction_id, MovementKind::OverdraftFee, fee, *occurred_at);
            }
            AccountCommand::Deposit(Deposit {
                transaction_id,
                amount,
                occurred_at,
                ..
            }) => self.record(
                *transaction_id,
                MovementKind::Deposit,
                amount.minor_units(),
                *occurred_at,
            ),
            AccountCommand::Withdraw(Withdraw {
                transaction_id,
                amount,
                occurred_at,
                ..
            }) => {
                self.record(
                    *transaction_id,
                    MovementKind::Withdrawal,
                    amount.minor_units(),
                    *occurred_at,
                );
                self.count_toward_daily_limit(amount.minor_units(), *occurred_at);
            }
            AccountCommand::Freeze(_) => self.frozen = true,
            AccountCommand::Unfreeze(_) => self.frozen = false,
            AccountCommand::Close(_) => self.closed = true,
            AccountCommand::DebitTransfer(DebitTransfer {
                transfer_id,
                transaction_id,
                to_account,
                amount,
                occurred_at,
                ..
            }) => {
                self.record(
                    *transaction_id,
                    MovementKind::TransferLeg,
                    amount.minor_units(),
                    *occurred_at,
                );
                self.count_toward_daily_limit(amount.minor_units(), *occurred_at);
                let sent = Sent {
                    to_account: *to_account,
                    amount: amount.minor_units(),
                    status: TransferStatus::Pending,
                    debited_on: occurred_at.date_naive(),
                };
                self.sent.insert(*transfer_id, sent);
            }
            AccountCommand::CreditTransfer(CreditTransfer {
                transfer_id,
                transaction_id,
                amount,
                occurred_at,
                ..
            }) => {
                self.record(
                    *transaction_id,
                    MovementKind::TransferLeg,
                    amount.minor_units(),
                    *occurred_at,
                );
                self.received.insert(*transfer_id);
            }
            AccountCommand::CompleteTransfer(CompleteTransfer { transfer_id, .. }) => {
                if let Some(sent) = self.sent.get_mut(transfer_id) {
                    sent.status = TransferStatus::Completed;
                }
            }
            AccountCommand::RefundTransfer(RefundTransfer {
                transfer_id,
                transaction_id,
                occurred_at,
                ..
            }) => {
                let mut refunded = 0;
                let mut debited_on = None;
                if let Some(sent) = self.sent.get_mut(transfer_id) {
                    sent.status = TransferStatus::Refunded;
                    refunded = sent.amount;
                    debited_on = Some(sent.debited_on);
                }
                if debited_on == Some(occurred_at.date_naive()) {
                    self.count_toward_daily_limit(-refunded, *occurred_at);
                }
                self.record(*transaction_id, MovementKind::TransferLeg, refunded, *occurred_at);
            }
            AccountCommand::Reverse(Reverse {
                reversal_id,
                transaction_id,
                occurred_at,
                ..
            }) => {
                let mut reversed = 0;
                if let Some(original) = self.movements.get_mut(transaction_id) {
                    original.reversed = true;
                    reversed = original.amount;
                }
                self.record(*reversal_id, MovementKind::Reversal, reversed, *occurred_at);
            }
            AccountCommand::PlaceHold(PlaceHold {
                hold_id,
                amount,
                expires_at,
                occurred_at,
                ..
            }) => {
                let held = Held {
                    amount: amount.minor_units(),
                    open: true,
                    expires_at: *expires_at,
                    placed_at: *occurred_at,
                };
                self.holds.insert(*hold_id, held);
                self.count_toward_daily_limit(amount.minor_units(), *occurred_at);
            }
            AccountCommand::CaptureHold(CaptureHold {
                hold_id,
                transaction_id,
                amount,
                occurred_at,
            }) => {
                let held = self.holds.get(hold_id).map_or(0, |held| held.amount);
                let captured = amount.map_or(held, |amount| amount.minor_units());
                self.release(*hold_id, held - captured, *occurred_at);
                self.record(*transaction_id, MovementKind::HoldCapture, captured, *occurred_at);
            }
            AccountCommand::VoidHold(VoidHold { hold_id, occurred_at })
            | AccountCommand::ExpireHold(ExpireHold { hold_id, occurred_at }) => {
                let held = self.holds.get(hold_id).map_or(0, |held| held.amount);
                self.release(*hold_id, held, *occurred_at);
            }
        }
    }
}
