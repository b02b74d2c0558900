//! What a client asks an account to do. Imperative names; time and ids are inputs.

use chrono::{DateTime, Utc};

use super::{FrozenBy, Movement, RefundReason};
use crate::domain::ids::{AccountId, HoldId, OwnerId, TransactionId, TransferId};
use crate::domain::money::{Amount, Currency, Limit};
use crate::domain::personal::Personal;

/// The terms of a new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAccount {
    pub account_id: AccountId,
    pub owner_id: OwnerId,
    pub currency: Currency,
    pub overdraft_limit: Limit,
    pub daily_withdrawal_limit: Option<Limit>,
    /// An opening deposit, recorded as a separate `MoneyDeposited` event.
    pub initial_deposit: Option<(TransactionId, Amount)>,
    /// The holder's name, personal data (sealed, see [`Personal`]).
    pub holder_name: Option<Personal>,
    /// Charged once each time a movement takes the balance below zero (by the overdraft fee
    /// policy); `None`: going overdrawn costs nothing.
    pub overdraft_fee: Option<Amount>,
    pub occurred_at: DateTime<Utc>,
}

/// A request to change an account. Every value is already valid (see [`crate::domain::money`]),
/// and `occurred_at` plus any new ids were chosen by the caller, which keeps `decide` pure.
///
/// Each variant wraps its own struct, so the rule that handles a command receives exactly that
/// command's fields.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
pub enum AccountCommand {
    #[strum(serialize = "OpenAccount")]
    Open(OpenAccount),
    Deposit(Deposit),
    Withdraw(Withdraw),
    Freeze(Freeze),
    Unfreeze(Unfreeze),
    Close(Close),
    RenameHolder(RenameHolder),
    DebitTransfer(DebitTransfer),
    CreditTransfer(CreditTransfer),
    CompleteTransfer(CompleteTransfer),
    RefundTransfer(RefundTransfer),
    Reverse(Reverse),
    PlaceHold(PlaceHold),
    CaptureHold(CaptureHold),
    VoidHold(VoidHold),
    ExpireHold(ExpireHold),
    ChargeOverdraftFee(ChargeOverdraftFee),
}

impl AccountCommand {
    /// A stable name, recorded in event metadata: the variant's name, but `OpenAccount` for
    /// [`AccountCommand::Open`].
    pub fn name(&self) -> &'static str {
        self.into()
    }
}

/// Pay money in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposit {
    pub transaction_id: TransactionId,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<Personal>,
    pub occurred_at: DateTime<Utc>,
}

/// Pay money out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdraw {
    pub transaction_id: TransactionId,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<Personal>,
    pub occurred_at: DateTime<Utc>,
}

/// Stop money leaving the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeze {
    pub reason: Personal,
    /// Who asks: the owner (a customer key) or the bank (an operator).
    pub by: FrozenBy,
    pub occurred_at: DateTime<Utc>,
}

/// Let money leave a frozen account again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfreeze {
    /// Who asks: the owner may lift only its own freeze, the bank any.
    pub by: FrozenBy,
    /// Why, if said.
    pub reason: Option<Personal>,
    pub occurred_at: DateTime<Utc>,
}

/// Close the account; a closed account accepts no further commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    pub occurred_at: DateTime<Utc>,
}

/// Record the holder's name anew (a marriage, a correction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameHolder {
    /// Personal data (sealed, see [`Personal`]).
    pub holder_name: Personal,
    pub occurred_at: DateTime<Utc>,
}

/// Step 1 of a transfer, on the source: take the money out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitTransfer {
    pub transfer_id: TransferId,
    /// The source's movement id for this leg.
    pub transaction_id: TransactionId,
    pub to_account: AccountId,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<Personal>,
    pub occurred_at: DateTime<Utc>,
}

/// Step 2, on the destination: put the money in. A repeat of the same transfer is a no-op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditTransfer {
    pub transfer_id: TransferId,
    pub transaction_id: TransactionId,
    pub from_account: AccountId,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<Personal>,
    pub occurred_at: DateTime<Utc>,
}

/// Step 3 on success, on the source: the transfer is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteTransfer {
    pub transfer_id: TransferId,
    pub occurred_at: DateTime<Utc>,
}

/// Step 3 on failure, on the source: give the money back (compensation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundTransfer {
    pub transfer_id: TransferId,
    pub transaction_id: TransactionId,
    /// Why the destination refused.
    pub reason: RefundReason,
    pub occurred_at: DateTime<Utc>,
}

/// Undo a deposit or a withdrawal within 30 days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reverse {
    /// The id of the reversing movement.
    pub reversal_id: TransactionId,
    /// The deposit or withdrawal to undo.
    pub transaction_id: TransactionId,
    /// That movement as the log tells it ([`Movement::find`] over the account's events that
    /// mention it), or `None` when the account never recorded it. The handler reads it; the
    /// rule only judges it.
    pub original: Option<Movement>,
    pub occurred_at: DateTime<Utc>,
}

/// Set money aside for a payment authorized now and settled later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceHold {
    pub hold_id: HoldId,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<Personal>,
    /// When the hold lapses: between [`MIN_HOLD`](super::MIN_HOLD) and
    /// [`MAX_HOLD`](super::MAX_HOLD) after `occurred_at`.
    pub expires_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
}

/// Pay out some or all of a hold; the rest is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureHold {
    pub hold_id: HoldId,
    /// The id of the movement the capture records.
    pub transaction_id: TransactionId,
    /// `None`: the whole hold.
    pub amount: Option<Amount>,
    pub occurred_at: DateTime<Utc>,
}

/// Cancel a hold: all of it is released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidHold {
    pub hold_id: HoldId,
    pub occurred_at: DateTime<Utc>,
}

/// Record that a hold's deadline passed (sent by the expiry scheduler, at least once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpireHold {
    pub hold_id: HoldId,
    pub occurred_at: DateTime<Utc>,
}

/// Charge the overdraft fee of one crossing below zero (sent by the overdraft fee policy, at
/// least once, for every `AccountOverdrawn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeOverdraftFee {
    /// The movement that took the balance below zero: the fee is charged once per cause.
    pub cause: TransactionId,
    /// The id of the fee's own movement.
    pub transaction_id: TransactionId,
    pub occurred_at: DateTime<Utc>,
}
