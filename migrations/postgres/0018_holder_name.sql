-- The account holder's name (AccountOpened.holder_name, HolderRenamed): personal data, stored
-- as sealed in the events (src/privacy/), opened only when answered. Empty for accounts opened
-- without one.
ALTER TABLE account_balances ADD COLUMN holder_name TEXT;
