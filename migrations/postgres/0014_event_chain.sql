-- The hash chain over the log (src/store/chain.rs): one row per event, written in the event's
-- own transaction. `hash` is SHA-256(previous event's hash || the event's canonical bytes), as
-- 64 lowercase hex digits; the first event's predecessor is 32 zero bytes.
--
-- A table beside `events` rather than a column of it: the events of a log that predates the
-- chain get their hashes by an insert (at start-up, `chain::catch_up`), and `events` stays
-- strictly append-only, no UPDATE ever. The chain is as append-only as the log.
CREATE TABLE event_chain (
    global_position BIGINT PRIMARY KEY CHECK (global_position > 0),
    hash            TEXT   NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE TRIGGER event_chain_append_only
    BEFORE UPDATE OR DELETE ON event_chain
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER event_chain_no_truncate
    BEFORE TRUNCATE ON event_chain
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();
