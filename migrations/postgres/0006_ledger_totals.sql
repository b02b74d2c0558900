-- Running totals per currency (src/projection/ledger.rs), so GET /ledger/summary reads one row
-- per currency instead of summing every movement. NUMERIC: the balances are BIGINT, and their
-- sum can go past BIGINT; it must stay exact. A read model like the others: the projector
-- fills it from the whole log (its checkpoint starts at 0).
CREATE TABLE ledger_totals (
    currency  TEXT           PRIMARY KEY,
    -- The sum of all account balances, in minor units.
    total     NUMERIC(39, 0) NOT NULL,
    -- Debited from a source, not yet credited or refunded: -(sum of the transfer legs).
    in_flight NUMERIC(39, 0) NOT NULL,
    -- The global position of the last movement this row reflects (replays below it are no-ops).
    position  BIGINT         NOT NULL
);
