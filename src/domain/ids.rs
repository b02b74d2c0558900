//! Typed identifiers, so an account id can never be passed where a transaction id belongs.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }
    };
}

uuid_id!(
    /// Identifies a bank account and its event stream.
    AccountId
);
uuid_id!(
    /// Identifies the customer who owns accounts.
    OwnerId
);
uuid_id!(
    /// Identifies one money movement (deposit, withdrawal, ...).
    TransactionId
);
uuid_id!(
    /// Identifies a transfer between two accounts, end to end (chosen by the client or generated).
    TransferId
);
uuid_id!(
    /// Identifies a hold on an account's money (chosen by the client or generated).
    HoldId
);
