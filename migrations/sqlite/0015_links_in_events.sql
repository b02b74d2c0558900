-- The hash chain's links move into the events' own rows (src/store/chain/): one row and one
-- index entry per event instead of two of each. `hash` is SHA-256(previous event's hash || the
-- event's canonical bytes), as 64 lowercase hex digits, written by the group commit with the
-- event.
--
-- `events` stays append-only but for one write: the link of an event that has none (an event
-- appended before the chain existed, or by an older version beside this one) may be set once,
-- at start-up or by the next batch, and nothing else of the row changes with it.
ALTER TABLE events ADD COLUMN hash TEXT
    CHECK (hash IS NULL OR (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'));

DROP TRIGGER events_no_update;
UPDATE events SET hash = (SELECT c.hash FROM event_chain c WHERE c.global_position = events.global_position);
DROP TABLE event_chain;

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
WHEN NOT (OLD.hash IS NULL AND NEW.hash IS NOT NULL
    AND NEW.global_position IS OLD.global_position AND NEW.stream_type IS OLD.stream_type
    AND NEW.stream_id IS OLD.stream_id AND NEW.stream_version IS OLD.stream_version
    AND NEW.event_id IS OLD.event_id AND NEW.event_type IS OLD.event_type
    AND NEW.schema_version IS OLD.schema_version AND NEW.payload IS OLD.payload
    AND NEW.metadata IS OLD.metadata AND NEW.occurred_at IS OLD.occurred_at
    AND NEW.recorded_at IS OLD.recorded_at)
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE on events is not allowed (but for the first link of an unlinked event)');
END;

-- Empty once every event is linked: the group commit and the start-up linking find the first
-- unlinked event by it without reading the log.
CREATE INDEX events_unlinked ON events (global_position) WHERE hash IS NULL;
