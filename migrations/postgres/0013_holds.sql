-- Holds (money authorized now and captured, voided or expired later; src/domain/account/holds.rs).
--
-- No log holds a hold's event before this migration (the commands that place them came with
-- it), so every account and every currency holds nothing yet: the defaults are the fold.

-- The money set aside by an account's open holds; `available` is balance + overdraft - held.
ALTER TABLE account_balances ADD COLUMN held BIGINT NOT NULL DEFAULT 0;

-- Money held per currency, over every account.
ALTER TABLE ledger_totals ADD COLUMN held NUMERIC(39, 0) NOT NULL DEFAULT 0;

-- One row per hold. A hold id is the client's, unique within its account only, so the key is
-- the pair: `hold_key` is `<account_id>/<hold_id>`.
CREATE TABLE account_holds (
    hold_key        TEXT        PRIMARY KEY,
    account_id      UUID        NOT NULL,
    hold_id         UUID        NOT NULL,
    amount          BIGINT      NOT NULL,
    currency        TEXT        NOT NULL,
    description     TEXT,
    status          TEXT        NOT NULL CHECK (status IN ('open', 'captured', 'voided', 'expired')),
    expires_at      TIMESTAMPTZ NOT NULL,
    placed_at       TIMESTAMPTZ NOT NULL,
    -- When it was captured, voided or expired; null while open.
    settled_at      TIMESTAMPTZ,
    -- What a capture paid out (and its movement), and what it or a void or an expiry released.
    captured        BIGINT,
    transaction_id  UUID,
    released        BIGINT,
    -- The global position of the `HoldPlaced` event (the list's order and cursor), and of the
    -- last event this row reflects (replays at or below it are no-ops).
    placed_position BIGINT      NOT NULL,
    position        BIGINT      NOT NULL
);

-- An account's holds, newest first.
CREATE INDEX account_holds_by_account ON account_holds (account_id, placed_position DESC);
-- What the expiry scheduler looks for: open holds, soonest deadline first.
CREATE INDEX account_holds_due ON account_holds (expires_at) WHERE status = 'open';
