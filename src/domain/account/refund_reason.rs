//! Why a transfer was refunded: the destination's refusal, as a stable code.
//!
//! The codes are stored in `TransferRefunded` payloads and shown to clients as the reason a
//! transfer failed, so a code never changes once recorded; a new kind of refusal gets a new code.

use serde::{Deserialize, Serialize};

/// Why the destination refused a transfer, so that the source took its money back.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum RefundReason {
    /// The destination account does not exist.
    DestinationNotFound,
    /// The destination account is closed.
    DestinationClosed,
    /// The destination account is in another currency.
    CurrencyMismatch,
    /// The credit would overflow the destination's balance.
    DestinationBalanceOverflow,
    /// The destination already received another transfer under the same id.
    TransferIdReused,
    /// Any other refusal of the destination.
    DestinationRefused,
}

impl RefundReason {
    /// The stable code, as stored and shown.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}
