//! An independent model of the bank, written from the README's rules ("The rules an account
//! enforces", "Transfers and reversals", "Holds", the problem table): not from `evolve`, the deciders or
//! the projections, and sharing no code with them.
//!
//! A history is played over HTTP and through this model side by side: the model says what
//! each command must answer, and afterwards what every row of every read model must be. Global
//! positions are the one thing it does not predict (they depend on how the transfer process
//! manager's appends interleave); it predicts each row's stream and version, and the log says
//! which position that version got.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

/// The most one movement may move, and the most an account may hold.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
pub const MAX_BALANCE: i64 = 100_000_000_000_000_000;

/// The shortest and the longest a hold may last.
pub fn hold_lasts() -> std::ops::RangeInclusive<Duration> {
    Duration::seconds(1)..=Duration::days(30)
}

/// How long a deposit or withdrawal may still be reversed: 30 days, to the microsecond.
pub fn reversal_window() -> Duration {
    Duration::days(30)
}

/// What the model says a request must answer: a success status, or a problem's status and type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Done(u16),
    Refused(u16, &'static str),
}

impl Answer {
    pub fn is_done(self) -> bool {
        matches!(self, Answer::Done(_))
    }
}

/// Who sends a command: the account's owner (a customer key) or the bank (an operator key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Owner,
    Bank,
}

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Owner => "owner",
            Who::Bank => "bank",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Active,
    Frozen { reason: String, by: Who },
    Closed,
}

/// One money movement, as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    pub transaction_id: Uuid,
    pub account_id: Uuid,
    pub kind: &'static str,
    /// Signed: credits positive.
    pub amount: i64,
    pub balance_after: i64,
    pub currency: String,
    pub description: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub version: i64,
    pub transfer_id: Option<Uuid>,
    pub counterparty: Option<Uuid>,
    pub reverses: Option<Uuid>,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub id: Uuid,
    pub owner: Uuid,
    pub currency: String,
    pub overdraft_limit: i64,
    pub daily_limit: Option<i64>,
    pub balance: i64,
    pub status: Status,
    /// How many events the account's stream holds.
    pub version: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub movements: Vec<Movement>,
    /// Money that left at the owner's request, per UTC day.
    paid_out: BTreeMap<NaiveDate, i64>,
    /// Deposits and withdrawals already reversed.
    reversed: Vec<Uuid>,
    /// Every hold placed on the account, by id.
    pub holds: BTreeMap<Uuid, Hold>,
}

/// Money set aside until captured, voided or expired.
#[derive(Debug, Clone)]
pub struct Hold {
    pub id: Uuid,
    pub account: Uuid,
    pub amount: i64,
    pub currency: String,
    pub expires_at: DateTime<Utc>,
    pub placed_at: DateTime<Utc>,
    /// `open`, `captured`, `voided` or `expired`.
    pub status: &'static str,
    pub settled_at: Option<DateTime<Utc>>,
    pub captured: Option<i64>,
    pub transaction_id: Option<Uuid>,
    pub released: Option<i64>,
    /// The account's versions of the placement and of the last event about the hold.
    pub placed_version: i64,
    pub version: i64,
}

impl Account {
    /// What left the account at the owner's request on `day`.
    pub fn paid_out_on(&self, day: NaiveDate) -> i64 {
        self.paid_out.get(&day).copied().unwrap_or(0)
    }

    fn frozen(&self) -> bool {
        matches!(self.status, Status::Frozen { .. })
    }

    /// Set aside by the open holds: not available, still in the balance.
    pub fn held(&self) -> i64 {
        self.holds
            .values()
            .filter(|hold| hold.status == "open")
            .map(|hold| hold.amount)
            .sum()
    }
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: Uuid,
    pub from: Uuid,
    pub to: Uuid,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub status: &'static str,
    pub reason: Option<&'static str>,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The (stream, version) of the debit, the credit and the refund.
    pub debit: (Uuid, i64),
    pub credit: Option<(Uuid, i64)>,
    pub refund: Option<(Uuid, i64)>,
}

/// The terms of a new account.
#[derive(Debug, Clone)]
pub struct Terms {
    pub owner: Uuid,
    pub currency: &'static str,
    pub overdraft_limit: i64,
    pub daily_limit: Option<i64>,
    pub initial_deposit: Option<i64>,
}

/// The whole bank, as the rules say it must be.
#[derive(Debug, Clone)]
pub struct Bank {
    pub accounts: BTreeMap<Uuid, Account>,
    pub transfers: BTreeMap<Uuid, Transfer>,
    pub now: DateTime<Utc>,
}

type Decision = Result<(), (u16, &'static str)>;

fn refuse(status: u16, slug: &'static str) -> Decision {
    Err((status, slug))
}

impl Bank {
    pub fn new(now: DateTime<Utc>) -> Self {
        Bank {
            accounts: BTreeMap::new(),
            transfers: BTreeMap::new(),
            now,
        }
    }

    pub fn wait(&mut self, minutes: i64) {
        self.now += Duration::minutes(minutes);
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    fn used(&self, id: Uuid) -> bool {
        self.accounts.contains_key(&id) || self.transfers.contains_key(&id)
    }

    pub fn open(&mut self, id: Uuid, terms: &Terms, deposit_id: Uuid) -> Answer {
        if self.used(id) {
            return Answer::Refused(409, "id-in-use");
        }
        let mut account = Account {
            id,
            owner: terms.owner,
            currency: terms.currency.to_owned(),
            overdraft_limit: terms.overdraft_limit,
            daily_limit: terms.daily_limit,
            balance: 0,
            status: Status::Active,
            version: 1,
            opened_at: self.now,
            updated_at: self.now,
            movements: Vec::new(),
            paid_out: BTreeMap::new(),
            reversed: Vec::new(),
            holds: BTreeMap::new(),
        };
        if let Some(amount) = terms.initial_deposit {
            move_money(&mut account, self.now, deposit_id, "deposit", amount, None);
        }
        self.accounts.insert(id, account);
        Answer::Done(201)
    }

    /// The account `id`, if it exists and is not closed.
    fn open_account(&mut self, id: Uuid) -> Result<&mut Account, (u16, &'static str)> {
        match self.accounts.get_mut(&id) {
            None => Err((404, "account-not-found")),
            Some(account) if account.status == Status::Closed => Err((422, "account-closed")),
            Some(account) => Ok(account),
        }
    }

    pub fn deposit(
        &mut self,
        id: Uuid,
        transaction_id: Uuid,
        amount: i64,
        currency: &str,
        description: Option<&str>,
    ) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            check_currency(account, currency)?;
            check_room(account, amount)?;
            move_money(account, now, transaction_id, "deposit", amount, description);
            Ok(())
        });
        answer(201, decided)
    }

    pub fn withdraw(
        &mut self,
        id: Uuid,
        transaction_id: Uuid,
        amount: i64,
        currency: &str,
        description: Option<&str>,
    ) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            if account.frozen() {
                return refuse(422, "account-frozen");
            }
            check_currency(account, currency)?;
            check_funds(account, amount)?;
            check_daily_limit(account, now, amount)?;
            *account.paid_out.entry(now.date_naive()).or_default() += amount;
            move_money(account, now, transaction_id, "withdrawal", -amount, description);
            Ok(())
        });
        answer(201, decided)
    }

    pub fn freeze(&mut self, id: Uuid, by: Who, reason: &str) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            match (&account.status, by) {
                (Status::Frozen { by: Who::Owner, .. }, Who::Bank) | (Status::Active, _) => {}
                _ => return refuse(422, "account-already-frozen"),
            }
            account.status = Status::Frozen {
                reason: reason.to_owned(),
                by,
            };
            touch(account, now);
            Ok(())
        });
        answer(200, decided)
    }

    pub fn unfreeze(&mut self, id: Uuid, by: Who) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            match (&account.status, by) {
                (Status::Frozen { by: Who::Bank, .. }, Who::Owner) => return refuse(403, "frozen-by-bank"),
                (Status::Frozen { .. }, _) => {}
                _ => return refuse(422, "account-not-frozen"),
            }
            account.status = Status::Active;
            touch(account, now);
            Ok(())
        });
        answer(200, decided)
    }

    pub fn close(&mut self, id: Uuid) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            if account.frozen() {
                return refuse(422, "account-frozen");
            }
            if account.balance != 0 {
                return refuse(422, "non-zero-balance");
            }
            // Open until the scheduler records its expiry, even past its deadline.
            if account.held() > 0 {
                return refuse(422, "holds-open");
            }
            // Every transfer is settled before the next step of a history: none is in flight.
            account.status = Status::Closed;
            touch(account, now);
            Ok(())
        });
        answer(200, decided)
    }

    /// A transfer, settled at once (the histories wait for the process manager after each).
    pub fn transfer(
        &mut self,
        transfer_id: Uuid,
        (debit_id, leg_id): (Uuid, Uuid),
        (from, to): (Uuid, Uuid),
        amount: i64,
        currency: &str,
        description: Option<&str>,
    ) -> Answer {
        // Checked on the request itself, before any account is read.
        if to == from {
            return Answer::Refused(422, "transfer-to-self");
        }
        if !self.accounts.contains_key(&from) {
            return Answer::Refused(404, "account-not-found");
        }
        // "Sending the same transfer_id again changes nothing (and a different transfer under a
        // used id, from any account, is refused with transfer-id-reused)": the source knows its
        // own transfers whatever it has become since; another source decides first, and then
        // the transfer's record refuses the id.
        let reused = self.transfers.get(&transfer_id).map(|sent| {
            (
                sent.from == from,
                sent.from == from && sent.to == to && sent.amount == amount && sent.currency == currency,
            )
        });
        match reused {
            Some((_, true)) => return Answer::Done(202),
            Some((true, false)) => {
                return match self.open_account(from) {
                    Err((status, slug)) => Answer::Refused(status, slug),
                    Ok(_) => Answer::Refused(422, "transfer-id-reused"),
                };
            }
            _ => {}
        }
        let now = self.now;
        let checked = self.open_account(from).and_then(|account| {
            if account.frozen() {
                return refuse(422, "account-frozen");
            }
            check_currency(account, currency)?;
            check_funds(account, amount)?;
            check_daily_limit(account, now, amount)
        });
        if let Err((status, slug)) = checked {
            return Answer::Refused(status, slug);
        }
        if reused.is_some() {
            return Answer::Refused(422, "transfer-id-reused");
        }
        // The debit and the transfer's record are one append: an id that names an account
        // refuses both.
        if self.accounts.contains_key(&transfer_id) {
            return Answer::Refused(409, "id-in-use");
        }
        let source = self.accounts.get_mut(&from).expect("the source");
        *source.paid_out.entry(now.date_naive()).or_default() += amount;
        move_money(source, now, debit_id, "transfer_out", -amount, description);
        let debit = source.movements.last_mut().expect("the debit");
        debit.transfer_id = Some(transfer_id);
        debit.counterparty = Some(to);
        let (currency, debit_version) = (source.currency.clone(), source.version);
        let mut transfer = Transfer {
            id: transfer_id,
            from,
            to,
            amount,
            currency: currency.clone(),
            description: description.map(str::to_owned),
            status: "pending",
            reason: None,
            requested_at: now,
            finished_at: Some(now),
            debit: (from, debit_version),
            credit: None,
            refund: None,
        };
        match self.credit(to, &currency, amount) {
            Ok(destination) => {
                move_money(destination, now, leg_id, "transfer_in", amount, description);
                let credit = destination.movements.last_mut().expect("the credit");
                credit.transfer_id = Some(transfer_id);
                credit.counterparty = Some(from);
                transfer.credit = Some((to, destination.version));
                transfer.status = "completed";
                let source = self.accounts.get_mut(&from).expect("the source");
                touch(source, now);
            }
            Err(reason) => {
                let source = self.accounts.get_mut(&from).expect("the source");
                // A refund on the day of its debit gives the daily limit back.
                *source.paid_out.entry(now.date_naive()).or_default() -= amount;
                move_money(source, now, leg_id, "transfer_refund", amount, None);
                let refund = source.movements.last_mut().expect("the refund");
                refund.transfer_id = Some(transfer_id);
                refund.counterparty = Some(to);
                transfer.refund = Some((from, source.version));
                transfer.status = "failed";
                transfer.reason = Some(reason);
            }
        }
        self.transfers.insert(transfer_id, transfer);
        Answer::Done(202)
    }

    /// The destination of a credit, or the reason the transfer fails.
    fn credit(&mut self, to: Uuid, currency: &str, amount: i64) -> Result<&mut Account, &'static str> {
        let Some(destination) = self.accounts.get_mut(&to) else {
            return Err("destination-not-found");
        };
        if destination.status == Status::Closed {
            return Err("destination-closed");
        }
        if destination.currency != currency {
            return Err("currency-mismatch");
        }
        if destination.balance + amount > MAX_BALANCE {
            return Err("destination-balance-overflow");
        }
        Ok(destination)
    }

    pub fn reverse(&mut self, id: Uuid, reversal_id: Uuid, transaction_id: Uuid) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            let Some(original) = account
                .movements
                .iter()
                .find(|movement| movement.transaction_id == transaction_id)
                .cloned()
            else {
                return refuse(404, "transaction-not-found");
            };
            // Reversing a deposit debits it back, reversing a withdrawal credits it back.
            let signed = match original.kind {
                "deposit" | "withdrawal" | "hold_capture" => -original.amount,
                _ => return refuse(422, "transfer-not-reversible"),
            };
            if account.reversed.contains(&transaction_id) {
                return refuse(422, "already-reversed");
            }
            if now > original.occurred_at + reversal_window() {
                return refuse(422, "reversal-window-closed");
            }
            if signed < 0 {
                if account.frozen() {
                    return refuse(422, "account-frozen");
                }
                check_funds(account, -signed)?;
            } else {
                check_room(account, signed)?;
            }
            account.reversed.push(transaction_id);
            move_money(account, now, reversal_id, "reversal", signed, None);
            account.movements.last_mut().expect("the reversal").reverses = Some(transaction_id);
            Ok(())
        });
        answer(201, decided)
    }
}

/// Holds: authorize, capture or void, expire.
impl Bank {
    pub fn place_hold(&mut self, id: Uuid, hold_id: Uuid, amount: i64, expires_at: DateTime<Utc>) -> Answer {
        let now = self.now;
        let Some(account) = self.accounts.get_mut(&id) else {
            return Answer::Refused(404, "account-not-found");
        };
        // The same hold placed again changes nothing, whatever the account has become.
        if let Some(placed) = account.holds.get(&hold_id) {
            let same =
                placed.amount == amount && placed.expires_at == expires_at && account.currency == "EUR";
            if same {
                return Answer::Done(201);
            }
        }
        let decided = (|| {
            if account.status == Status::Closed {
                return refuse(422, "account-closed");
            }
            if account.holds.contains_key(&hold_id) {
                return refuse(422, "hold-id-reused");
            }
            if account.frozen() {
                return refuse(422, "account-frozen");
            }
            if !hold_lasts().contains(&(expires_at - now)) {
                return refuse(422, "hold-expiry-out-of-range");
            }
            check_currency(account, "EUR")?;
            check_funds(account, amount)?;
            check_daily_limit(account, now, amount)
        })();
        if decided.is_ok() {
            *account.paid_out.entry(now.date_naive()).or_default() += amount;
            touch(account, now);
            let hold = Hold {
                id: hold_id,
                account: id,
                amount,
                currency: account.currency.clone(),
                expires_at,
                placed_at: now,
                status: "open",
                settled_at: None,
                captured: None,
                transaction_id: None,
                released: None,
                placed_version: account.version,
                version: account.version,
            };
            account.holds.insert(hold_id, hold);
        }
        answer(201, decided)
    }

    /// A capture of `amount` (all of the hold when `None`), recorded as movement `movement_id`.
    pub fn capture_hold(
        &mut self,
        id: Uuid,
        hold_id: Uuid,
        amount: Option<i64>,
        movement_id: Uuid,
    ) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            let hold = settleable(account, hold_id, now)?;
            let captured = amount.unwrap_or(hold.amount);
            if captured > hold.amount {
                return refuse(422, "capture-exceeds-hold");
            }
            move_money(account, now, movement_id, "hold_capture", -captured, None);
            settle(account, hold_id, "captured", hold.amount - captured, now);
            let hold = account.holds.get_mut(&hold_id).expect("the hold");
            hold.captured = Some(captured);
            hold.transaction_id = Some(movement_id);
            Ok(())
        });
        answer(201, decided)
    }

    pub fn void_hold(&mut self, id: Uuid, hold_id: Uuid) -> Answer {
        let now = self.now;
        let decided = self.open_account(id).and_then(|account| {
            let hold = settleable(account, hold_id, now)?;
            touch(account, now);
            settle(account, hold_id, "voided", hold.amount, now);
            Ok(())
        });
        answer(200, decided)
    }

    /// What the expiry scheduler's round does: every open hold past its deadline expires,
    /// soonest deadline first (the same deadline: by hold id). Answers how many.
    pub fn expire_due(&mut self) -> usize {
        let now = self.now;
        let mut expired = 0;
        for account in self.accounts.values_mut() {
            let mut due: Vec<(DateTime<Utc>, Uuid, i64)> = account
                .holds
                .values()
                .filter(|hold| hold.status == "open" && hold.expires_at <= now)
                .map(|hold| (hold.expires_at, hold.id, hold.amount))
                .collect();
            due.sort();
            for (_, hold_id, amount) in due {
                touch(account, now);
                settle(account, hold_id, "expired", amount, now);
                expired += 1;
            }
        }
        expired
    }
}

/// The hold `hold_id` if it may still be captured or voided at `now`: open, deadline not
/// passed.
fn settleable(account: &Account, hold_id: Uuid, now: DateTime<Utc>) -> Result<Hold, (u16, &'static str)> {
    let Some(hold) = account.holds.get(&hold_id) else {
        return Err((404, "hold-not-found"));
    };
    if hold.status != "open" || now >= hold.expires_at {
        return Err((409, "hold-not-open"));
    }
    Ok(hold.clone())
}

/// Ends an open hold (the account's version already moved on): what it released on the day it
/// was placed no longer counts toward that day's limit.
fn settle(account: &mut Account, hold_id: Uuid, status: &'static str, released: i64, now: DateTime<Utc>) {
    let version = account.version;
    let hold = account.holds.get_mut(&hold_id).expect("the hold");
    hold.status = status;
    hold.settled_at = Some(now);
    hold.released = Some(released);
    hold.version = version;
    let placed_on = hold.placed_at.date_naive();
    if placed_on == now.date_naive() {
        *account.paid_out.entry(placed_on).or_default() -= released;
    }
}

fn answer(status: u16, decided: Decision) -> Answer {
    match decided {
        Ok(()) => Answer::Done(status),
        Err((status, slug)) => Answer::Refused(status, slug),
    }
}

fn check_currency(account: &Account, currency: &str) -> Decision {
    if account.currency == currency {
        Ok(())
    } else {
        refuse(422, "currency-mismatch")
    }
}

fn check_room(account: &Account, credit: i64) -> Decision {
    if account.balance + credit > MAX_BALANCE {
        refuse(422, "balance-overflow")
    } else {
        Ok(())
    }
}

fn check_funds(account: &Account, debit: i64) -> Decision {
    if account.balance - account.held() - debit < -account.overdraft_limit {
        refuse(422, "insufficient-funds")
    } else {
        Ok(())
    }
}

fn check_daily_limit(account: &Account, now: DateTime<Utc>, amount: i64) -> Decision {
    let paid_today = account.paid_out.get(&now.date_naive()).copied().unwrap_or(0);
    match account.daily_limit {
        Some(limit) if paid_today + amount > limit => refuse(422, "daily-limit-exceeded"),
        _ => Ok(()),
    }
}

/// One more event on the account's stream.
fn touch(account: &mut Account, now: DateTime<Utc>) {
    account.version += 1;
    account.updated_at = now;
}

/// One more event that moves `signed` minor units.
fn move_money(
    account: &mut Account,
    now: DateTime<Utc>,
    transaction_id: Uuid,
    kind: &'static str,
    signed: i64,
    description: Option<&str>,
) {
    touch(account, now);
    account.balance += signed;
    account.movements.push(Movement {
        transaction_id,
        account_id: account.id,
        kind,
        amount: signed,
        balance_after: account.balance,
        currency: account.currency.clone(),
        description: description.map(str::to_owned),
        occurred_at: now,
        version: account.version,
        transfer_id: None,
        counterparty: None,
        reverses: None,
    });
}

/// What the ledger summary must say: per currency, the sum of every balance and of the money
/// held (nothing is in flight once every transfer is settled).
pub fn ledger(bank: &Bank) -> HashMap<String, (i128, i128)> {
    let mut totals: HashMap<String, (i128, i128)> = HashMap::new();
    for account in bank.accounts.values() {
        let (total, held) = totals.entry(account.currency.clone()).or_default();
        *total += i128::from(account.balance);
        *held += i128::from(account.held());
    }
    totals
}

impl Who {
    /// The `frozen_by` a read model shows.
    pub fn as_str(self) -> &'static str {
        self.name()
    }
}
