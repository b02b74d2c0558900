//! Time travel on the write model: an account folded from its events up to an instant.

use chrono::{DateTime, Utc};

use crate::command::AccountCommandHandler;
use crate::domain::account::{Account, AccountState};
use crate::domain::ids::AccountId;
use crate::store::StoreError;

/// Replays the event log; no read model involved.
#[derive(Debug, Clone)]
pub struct AccountHistory {
    commands: AccountCommandHandler,
}

/// The account at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // built once per request and matched right away
pub enum PointInTime {
    /// No such account, at any time.
    Unknown,
    /// The account exists but was opened after the instant.
    NotYetOpened,
    Opened {
        account: Account,
        /// The stream version and global position of the last event at or before the instant.
        version: i64,
        position: i64,
    },
}

impl AccountHistory {
    pub fn new(commands: AccountCommandHandler) -> Self {
        AccountHistory { commands }
    }

    /// `state = fold(evolve, initial, events where occurred_at <= at)`.
    #[tracing::instrument(skip_all, fields(account_id = %account_id))]
    pub async fn at(&self, account_id: AccountId, at: DateTime<Utc>) -> Result<PointInTime, StoreError> {
        let loaded = self.commands.load_at(account_id, Some(at)).await?;
        match loaded.state {
            AccountState::Opened(account) => Ok(PointInTime::Opened {
                account,
                version: loaded.version,
                position: loaded.position,
            }),
            AccountState::NotOpened => {
                let now = self.commands.load_at(account_id, None).await?;
                Ok(match now.state {
                    AccountState::NotOpened => PointInTime::Unknown,
                    AccountState::Opened(_) => PointInTime::NotYetOpened,
                })
            }
        }
    }
}
