//! One owner's accounts in sum: how many by status, and the balance per currency.
//!
//! A query shaped from `account_balances`, not a table of its own: after the opening, no event
//! names the account's owner, so a read model of its own would have to keep the very
//! account → owner map that `account_balances` holds. Reading that read model, the summary is
//! as fresh as it is, and waits on the same checkpoint for `min_position`.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::db::query;
use crate::projection::balances::Status;
use crate::projection::reads::{QueryError, ReadModels, Reads, Snapshot, reached};

/// An owner's accounts by status, and their balances by currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerSummary {
    pub active: u64,
    pub frozen: u64,
    pub closed: u64,
    /// By currency code, in code order.
    pub balances: Vec<CurrencyBalance>,
}

/// The sum of an owner's balances in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyBalance {
    pub currency: String,
    /// How many of the owner's accounts hold this currency (closed ones too).
    pub accounts: u64,
    /// Exact at any size: many accounts near the balance cap overflow an `i64`.
    pub balance: i128,
}

/// The columns of `account_balances` a summary needs.
#[derive(Debug, sqlx::FromRow)]
struct OwnedAccount {
    #[sqlx(try_from = "String")]
    status: Status,
    currency: String,
    balance: i64,
}

impl OwnerSummary {
    /// The summary of `accounts`; `None` when there are none.
    fn of(accounts: &[OwnedAccount]) -> Option<Self> {
        if accounts.is_empty() {
            return None;
        }
        let mut summary = OwnerSummary::default();
        let mut balances: BTreeMap<&str, CurrencyBalance> = BTreeMap::new();
        for account in accounts {
            *match account.status {
                Status::Active => &mut summary.active,
                Status::Frozen => &mut summary.frozen,
                Status::Closed => &mut summary.closed,
            } += 1;
            let sum = balances
                .entry(&account.currency)
                .or_insert_with(|| CurrencyBalance {
                    currency: account.currency.clone(),
                    accounts: 0,
                    balance: 0,
                });
            sum.accounts += 1;
            sum.balance += i128::from(account.balance);
        }
        summary.balances = balances.into_values().collect();
        Some(summary)
    }
}

impl ReadModels {
    /// The summary of `owner_id`'s accounts (`None`: the owner has none), with the checkpoint
    /// it reflects.
    #[tracing::instrument(skip_all, fields(owner_id = %owner_id))]
    pub async fn owner_summary(&self, owner_id: Uuid) -> Result<Snapshot<Option<OwnerSummary>>, QueryError> {
        let mut tx = self.database.begin_read().await?;
        let position = reached(&mut tx, Reads::Accounts).await?;
        let accounts: Vec<OwnedAccount> =
            query("SELECT status, currency, balance FROM account_balances WHERE owner_id = $1")
                .bind(owner_id)
                .fetch_all(&mut tx)
                .await?;
        Ok(Snapshot {
            value: OwnerSummary::of(&accounts),
            position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(status: Status, currency: &str, balance: i64) -> OwnedAccount {
        OwnedAccount {
            status,
            currency: currency.to_owned(),
            balance,
        }
    }

    #[test]
    fn an_owner_without_accounts_has_no_summary() {
        assert_eq!(OwnerSummary::of(&[]), None);
    }

    #[test]
    fn accounts_are_counted_by_status_and_balances_summed_by_currency_exactly() {
        let summary = OwnerSummary::of(&[
            account(Status::Active, "EUR", i64::MAX),
            account(Status::Frozen, "USD", -50),
            account(Status::Active, "EUR", i64::MAX),
            account(Status::Closed, "EUR", 0),
        ]);
        assert_eq!(
            summary,
            Some(OwnerSummary {
                active: 2,
                frozen: 1,
                closed: 1,
                balances: vec![
                    CurrencyBalance {
                        currency: "EUR".into(),
                        accounts: 3,
                        balance: 2 * i128::from(i64::MAX),
                    },
                    CurrencyBalance {
                        currency: "USD".into(),
                        accounts: 1,
                        balance: -50,
                    },
                ],
            })
        );
    }
}
