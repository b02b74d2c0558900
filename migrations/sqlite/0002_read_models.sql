-- Read models: denormalized tables derived from the event log by the projector
-- (src/projection/). They can be dropped and rebuilt from the log at any time.

-- One row per projection: the global position up to which it has applied the log.
CREATE TABLE projection_checkpoints (
    name       TEXT    PRIMARY KEY,
    position   INTEGER NOT NULL CHECK (position >= 0),
    updated_at TEXT    NOT NULL
);

CREATE TABLE account_balances (
    account_id             TEXT    PRIMARY KEY,
    owner_id               TEXT    NOT NULL,
    currency               TEXT    NOT NULL,
    balance                INTEGER NOT NULL,
    available              INTEGER NOT NULL,
    overdraft_limit        INTEGER NOT NULL,
    daily_withdrawal_limit INTEGER,
    status                 TEXT    NOT NULL CHECK (status IN ('active', 'frozen', 'closed')),
    frozen_reason          TEXT,
    version                INTEGER NOT NULL,
    opened_at              TEXT    NOT NULL,
    updated_at             TEXT    NOT NULL,
    -- The global position of the last event this row reflects (replays below it are no-ops).
    position               INTEGER NOT NULL
);

CREATE INDEX account_balances_by_owner ON account_balances (owner_id, account_id);
CREATE INDEX account_balances_by_status ON account_balances (status, account_id);

CREATE TABLE account_transactions (
    transaction_id  TEXT    PRIMARY KEY,
    account_id      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    -- Signed: credits positive, debits negative.
    amount          INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    description     TEXT,
    occurred_at     TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL,
    global_position INTEGER NOT NULL UNIQUE
);

-- History pages (newest first) and the balance at an instant are index lookups.
CREATE INDEX account_transactions_by_position ON account_transactions (account_id, global_position DESC);
CREATE INDEX account_transactions_by_time ON account_transactions (account_id, occurred_at DESC, global_position DESC);
