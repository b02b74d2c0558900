//! Opening an account: the only command a `NotOpened` account accepts.

use super::{AccountEvent, OpenAccount};

/// The events of opening: `AccountOpened`, then the opening deposit if there is one.
pub(super) fn open(terms: OpenAccount) -> Vec<AccountEvent> {
    let OpenAccount {
        account_id,
        owner_id,
        currency,
        overdraft_limit,
        daily_withdrawal_limit,
        initial_deposit,
        holder_name,
        overdraft_fee,
        occurred_at,
    } = terms;
    let mut events = vec![AccountEvent::AccountOpened {
        account_id,
        owner_id,
        currency,
        overdraft_limit,
        daily_withdrawal_limit,
        holder_name,
        overdraft_fee,
        occurred_at,
    }];
    if let Some((transaction_id, amount)) = initial_deposit {
        events.push(AccountEvent::MoneyDeposited {
            transaction_id,
            amount,
            currency,
            description: None,
            occurred_at,
        });
    }
    events
}
