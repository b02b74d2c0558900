-- Who froze an account ('owner' or 'bank'): an owner may lift only its own freeze. Freezes
-- before this column were all the bank's (the events say so too, upcast from schema version 1).
ALTER TABLE account_balances ADD COLUMN frozen_by TEXT;
UPDATE account_balances SET frozen_by = 'bank' WHERE status = 'frozen';
