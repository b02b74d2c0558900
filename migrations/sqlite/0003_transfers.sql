-- Transfers between accounts (see src/process/ for the process manager that drives them).

-- Transfer legs and reversals in the history: who was on the other side, which transfer,
-- which movement a reversal undoes.
ALTER TABLE account_transactions ADD COLUMN transfer_id TEXT;
ALTER TABLE account_transactions ADD COLUMN counterparty_account_id TEXT;
ALTER TABLE account_transactions ADD COLUMN reverses_transaction_id TEXT;

-- One row per transfer, from its debit on the source to its credit or refund.
CREATE TABLE transfers (
    transfer_id     TEXT PRIMARY KEY,
    from_account    TEXT NOT NULL,
    to_account      TEXT NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    description     TEXT,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    reason          TEXT,
    requested_at    TEXT NOT NULL,
    finished_at     TEXT,
    debit_position  INTEGER NOT NULL,
    credit_position INTEGER,
    refund_position INTEGER
);

CREATE INDEX transfers_by_source ON transfers (from_account, transfer_id);
CREATE INDEX transfers_by_destination ON transfers (to_account, transfer_id);
