//! The folded state of recently used accounts, kept in memory between commands.
//!
//! Loading an account costs a read of its snapshot and the events after it; a command on an
//! account this process has just written needs neither. The cache is bounded (least recently
//! used accounts are evicted first) and is never the truth: every append still states the
//! version it expects, so a state that another process has moved past makes the append
//! conflict, the entry is forgotten, and the command is decided again on fresh state.

use moka::sync::Cache;

use crate::command::LoadedAccount;
use crate::domain::ids::AccountId;

/// How many accounts' states are kept. An entry is a few hundred bytes (the state holds no
/// history beyond today's withdrawals and the account's transfers).
const CAPACITY: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct StateCache {
    accounts: Cache<AccountId, LoadedAccount>,
}

impl Default for StateCache {
    fn default() -> Self {
        StateCache {
            accounts: Cache::new(CAPACITY),
        }
    }
}

impl StateCache {
    pub fn get(&self, account_id: AccountId) -> Option<LoadedAccount> {
        self.accounts.get(&account_id)
    }

    pub fn insert(&self, account_id: AccountId, loaded: LoadedAccount) {
        self.accounts.insert(account_id, loaded);
    }

    pub fn forget(&self, account_id: AccountId) {
        self.accounts.invalidate(&account_id);
    }
}
