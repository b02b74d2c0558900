-- An account's overdraft fee (`AccountOpened.overdraft_fee`), charged once each time its balance
-- crosses below zero; NULL when it has none, as every account opened before fees existed.
ALTER TABLE account_balances ADD COLUMN overdraft_fee BIGINT;
