//! What a client asks an account to do. Imperative names; time and ids are inputs.

use chrono::{DateTime, Utc};

use super::RefundReason;
use crate::domain::ids::{AccountId, OwnerId, TransactionId, TransferId};
use crate::domain::money::{Amount, Currency, Limit};
use crate::domain::text::Text;

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
    pub occurred_at: DateTime<Utc>,
}

/// A request to change an account. Every value is already valid (see [`crate::domain::money`]),
/// and `occurred_at` plus any new ids were chosen by the caller, which keeps `decide` pure.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
pub enum AccountCommand {
    #[strum(serialize = "OpenAccount")]
    Open(OpenAccount),
    Deposit {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    Withdraw {
        transaction_id: TransactionId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    Freeze {
        reason: Text,
        occurred_at: DateTime<Utc>,
    },
    Unfreeze {
        occurred_at: DateTime<Utc>,
    },
    Close {
        occurred_at: DateTime<Utc>,
    },
    /// Step 1 of a transfer, on the source: take the money out.
    DebitTransfer {
        transfer_id: TransferId,
        /// The source's movement id for this leg.
        transaction_id: TransactionId,
        to_account: AccountId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    /// Step 2, on the destination: put the money in. A repeat of the same transfer is a no-op.
    CreditTransfer {
        transfer_id: TransferId,
        transaction_id: TransactionId,
        from_account: AccountId,
        amount: Amount,
        currency: Currency,
        description: Option<Text>,
        occurred_at: DateTime<Utc>,
    },
    /// Step 3 on success, on the source: the transfer is settled.
    CompleteTransfer {
        transfer_id: TransferId,
        occurred_at: DateTime<Utc>,
    },
    /// Step 3 on failure, on the source: give the money back (compensation).
    RefundTransfer {
        transfer_id: TransferId,
        transaction_id: TransactionId,
        /// Why the destination refused.
        reason: RefundReason,
        occurred_at: DateTime<Utc>,
    },
    /// Undo a deposit or a withdrawal within 30 days.
    Reverse {
        /// The id of the reversing movement.
        reversal_id: TransactionId,
        /// The deposit or withdrawal to undo.
        transaction_id: TransactionId,
        occurred_at: DateTime<Utc>,
    },
}

impl AccountCommand {
    /// A stable name, recorded in event metadata: the variant's name, but `OpenAccount` for
    /// [`AccountCommand::Open`].
    pub fn name(&self) -> &'static str {
        self.into()
    }
}
