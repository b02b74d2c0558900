-- Read models: denormalized tables derived from the event log by the projector
-- (src/projection/). They can be dropped and rebuilt from the log at any time.

-- One row per projection: the global position up to which it has applied the log.
CREATE TABLE projection_checkpoints (
    name       TEXT        PRIMARY KEY,
    position   BIGINT      NOT NULL CHECK (position >= 0),
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE account_balances (
    account_id             UUID        PRIMARY KEY,
    owner_id               UUID        NOT NULL,
    currency               TEXT        NOT NULL,
    balance                BIGINT      NOT NULL,
    available              BIGINT      NOT NULL,
    overdraft_limit        BIGINT      NOT NULL,
    daily_withdrawal_limit BIGINT,
    status                 TEXT        NOT NULL CHECK (status IN ('active', 'frozen', 'closed')),
    frozen_reason          TEXT,
    version                BIGINT      NOT NULL,
    opened_at              TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL,
    -- The global position of the last event this row reflects (replays below it are no-ops).
    position               BIGINT      NOT NULL
);

CREATE INDEX account_balances_by_owner ON account_balances (owner_id, account_id);
CREATE INDEX account_balances_by_status ON account_balances (status, account_id);

CREATE TABLE account_transactions (
    transaction_id  UUID        PRIMARY KEY,
    account_id      UUID        NOT NULL,
    kind            TEXT        NOT NULL,
    -- Signed: credits positive, debits negative.
    amount          BIGINT      NOT NULL,
    balance_after   BIGINT      NOT NULL,
    currency        TEXT        NOT NULL,
    description     TEXT,
    occurred_at     TIMESTAMPTZ NOT NULL,
    stream_version  BIGINT      NOT NULL,
    global_position BIGINT      NOT NULL UNIQUE
);

-- History pages (newest first) and the balance at an instant are index lookups.
CREATE INDEX account_transactions_by_position ON account_transactions (account_id, global_position DESC);
CREATE INDEX account_transactions_by_time ON account_transactions (account_id, occurred_at DESC, global_position DESC);

-- Wake projectors in other processes when events are appended (LISTEN foldbank_events).
CREATE FUNCTION events_notify_append() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('foldbank_events', (SELECT MAX(global_position) FROM new_events)::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_notify_append
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_append();
