//! Holds: money authorized now and settled later, as a card payment is.
//!
//! A merchant first places a hold (the money stays in the balance but is no longer available),
//! then captures all or part of it (a movement out; the rest is released) or voids it. A hold
//! nobody settles expires at its deadline: the expiry scheduler sends [`ExpireHold`] once the
//! deadline has passed, at least once, and the rule answers a repeat with no events. Time comes
//! in with the commands, so the deadline is judged against `occurred_at`, never a clock.

use chrono::{DateTime, TimeDelta, Utc};

use super::limits::{ensure_currency, ensure_daily_limit, ensure_funds};
use super::{
    Account, AccountCommand, AccountError, AccountEvent, AccountStatus, CaptureHold, ExpireHold, Hold,
    HoldStatus, PlaceHold, VoidHold,
};
use crate::domain::ids::HoldId;
use crate::domain::money::Amount;

/// The shortest a hold may last.
pub const MIN_HOLD: TimeDelta = TimeDelta::seconds(1);

/// The longest a hold may last.
pub const MAX_HOLD: TimeDelta = TimeDelta::days(30);

/// Whether `command` is a hold step this account has already taken: the same hold placed again
/// (same id, amount, currency and deadline; the description is not kept), or an expiry of a
/// hold that is over (expired, or captured or voided before its deadline).
pub(super) fn is_repeated_hold_step(account: &Account, command: &AccountCommand) -> bool {
    match command {
        AccountCommand::PlaceHold(PlaceHold {
            hold_id,
            amount,
            currency,
            expires_at,
            ..
        }) => account.holds.get(hold_id).is_some_and(|placed| {
            placed.amount == amount.minor_units()
                && *currency == account.currency
                && placed.expires_at == *expires_at
        }),
        AccountCommand::ExpireHold(ExpireHold { hold_id, .. }) => account
            .holds
            .get(hold_id)
            .is_some_and(|hold| hold.status != HoldStatus::Open),
        _ => false,
    }
}

/// Sets money aside under the rules of a withdrawal (it will leave when captured): never on a
/// frozen account, within the available money and the daily limit, which counts it now.
/// (The same hold placed again was answered by [`is_repeated_hold_step`].)
pub(super) fn place(account: &Account, command: PlaceHold) -> Result<Vec<AccountEvent>, AccountError> {
    let PlaceHold {
        hold_id,
        amount,
        currency,
        description,
        expires_at,
        occurred_at,
    } = command;
    if account.holds.contains_key(&hold_id) {
        return Err(AccountError::HoldIdReused(hold_id));
    }
    if matches!(account.status, AccountStatus::Frozen { .. }) {
        return Err(AccountError::AccountFrozen);
    }
    let lasts = expires_at - occurred_at;
    if lasts < MIN_HOLD || lasts > MAX_HOLD {
        return Err(AccountError::HoldExpiryOutOfRange);
    }
    ensure_currency(account, currency)?;
    ensure_funds(account, amount)?;
    ensure_daily_limit(account, amount, occurred_at)?;
    Ok(vec![AccountEvent::HoldPlaced {
        hold_id,
        amount,
        currency,
        description,
        expires_at,
        occurred_at,
    }])
}

/// Pays out all of an open hold, or part of it and releases the rest. A frozen account still
/// pays: the merchant was authorized when the hold was placed. A hold whose deadline has
/// passed is expired, even before the scheduler has recorded it.
pub(super) fn capture(account: &Account, command: CaptureHold) -> Result<Vec<AccountEvent>, AccountError> {
    let CaptureHold {
        hold_id,
        transaction_id,
        amount,
        occurred_at,
    } = command;
    let hold = open_hold(account, hold_id, occurred_at)?;
    let captured = match amount {
        Some(amount) if amount.minor_units() > hold.amount => {
            return Err(AccountError::CaptureExceedsHold {
                held: hold.amount,
                requested: amount.minor_units(),
            });
        }
        Some(amount) => amount,
        None => Amount::new(hold.amount)?,
    };
    let captured = AccountEvent::HoldCaptured {
        hold_id,
        transaction_id,
        amount: captured,
        released: hold.amount - captured.minor_units(),
        currency: account.currency,
        occurred_at,
    };
    Ok(super::overdraft::with_crossing(account, transaction_id, captured))
}

/// Cancels an open hold: all of it is available again.
pub(super) fn void(account: &Account, command: VoidHold) -> Result<Vec<AccountEvent>, AccountError> {
    let VoidHold { hold_id, occurred_at } = command;
    let hold = open_hold(account, hold_id, occurred_at)?;
    Ok(vec![AccountEvent::HoldVoided {
        hold_id,
        released: hold.amount,
        currency: account.currency,
        occurred_at,
    }])
}

/// Records that an open hold's deadline passed. The scheduler delivers at least once, and a
/// capture or a void may have won the race: a hold that is no longer open was answered with
/// no events by [`is_repeated_hold_step`], so the expiry is recorded exactly once and never
/// undoes a settlement.
pub(super) fn expire(account: &Account, command: ExpireHold) -> Result<Vec<AccountEvent>, AccountError> {
    let ExpireHold { hold_id, occurred_at } = command;
    let hold = find_hold(account, hold_id)?;
    if occurred_at < hold.expires_at {
        return Err(AccountError::HoldNotDue {
            hold_id,
            expires_at: hold.expires_at,
        });
    }
    Ok(vec![AccountEvent::HoldExpired {
        hold_id,
        released: hold.amount,
        currency: account.currency,
        occurred_at,
    }])
}

/// The hold `hold_id`, whatever its status.
fn find_hold(account: &Account, hold_id: HoldId) -> Result<Hold, AccountError> {
    account
        .holds
        .get(&hold_id)
        .copied()
        .ok_or(AccountError::HoldNotFound(hold_id))
}

/// The hold `hold_id`, if it is open at `at`: one past its deadline counts as expired.
fn open_hold(account: &Account, hold_id: HoldId, at: DateTime<Utc>) -> Result<Hold, AccountError> {
    let hold = find_hold(account, hold_id)?;
    let status = match hold.status {
        HoldStatus::Open if at >= hold.expires_at => HoldStatus::Expired,
        status => status,
    };
    if status != HoldStatus::Open {
        return Err(AccountError::HoldNotOpen { hold_id, status });
    }
    Ok(hold)
}
