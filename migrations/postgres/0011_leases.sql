-- Leases: work that one process at a time may do, across every process sharing this database
-- (a rebuild of a read model). A lease expires unless its holder renews it, so a holder that
-- dies gives its work up by itself.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    -- Who holds it: a random id per holder, with the host and process for people.
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
