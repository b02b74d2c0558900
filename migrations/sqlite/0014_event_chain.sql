-- The hash chain over the log (src/store/chain.rs): one row per event, written in the event's
-- own transaction. `hash` is SHA-256(previous event's hash || the event's canonical bytes), as
-- 64 lowercase hex digits; the first event's predecessor is 32 zero bytes.
--
-- A table beside `events` rather than a column of it: the events of a log that predates the
-- chain get their hashes by an insert (at start-up, `chain::catch_up`), and `events` stays
-- strictly append-only, no UPDATE ever. The chain is as append-only as the log.
CREATE TABLE event_chain (
    global_position INTEGER PRIMARY KEY CHECK (global_position > 0),
    hash            TEXT    NOT NULL CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*')
);

CREATE TRIGGER event_chain_no_update BEFORE UPDATE ON event_chain
BEGIN
    SELECT RAISE(ABORT, 'the hash chain is append-only: UPDATE on event_chain is not allowed');
END;

CREATE TRIGGER event_chain_no_delete BEFORE DELETE ON event_chain
BEGIN
    SELECT RAISE(ABORT, 'the hash chain is append-only: DELETE on event_chain is not allowed');
END;
