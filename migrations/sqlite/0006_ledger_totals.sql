-- Running totals per currency (src/projection/ledger.rs), so GET /ledger/summary reads one row
-- per currency instead of summing every movement. The balances are 64-bit integers and their
-- sum can go past them; SQLite has no wider integer and its REAL is inexact, so the sums are
-- stored as decimal text and added in Rust as i128. A read model like the others: the
-- projector fills it from the whole log (its checkpoint starts at 0).
CREATE TABLE ledger_totals (
    currency  TEXT    PRIMARY KEY,
    -- The sum of all account balances, in minor units (decimal text).
    total     TEXT    NOT NULL,
    -- Debited from a source, not yet credited or refunded: -(sum of the transfer legs).
    in_flight TEXT    NOT NULL,
    -- The global position of the last movement this row reflects (replays below it are no-ops).
    position  INTEGER NOT NULL
);
