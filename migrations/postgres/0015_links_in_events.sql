-- The hash chain's links move into the events' own rows (src/store/chain/): one tuple and one
-- index entry per event instead of two of each, which is what the chain cost every append on
-- PostgreSQL. `hash` is SHA-256(previous event's hash || the event's canonical bytes), as 64
-- lowercase hex digits, written by the group commit with the event.
--
-- `events` stays append-only but for one write: the link of an event that has none (an event
-- appended before the chain existed, or by an older version beside this one) may be set once,
-- at start-up or by the next batch, and nothing else of the row changes with it.
ALTER TABLE events ADD COLUMN hash TEXT CHECK (hash ~ '^[0-9a-f]{64}$');

ALTER TABLE events DISABLE TRIGGER events_append_only;
UPDATE events e SET hash = c.hash FROM event_chain c WHERE c.global_position = e.global_position;
ALTER TABLE events ENABLE TRIGGER events_append_only;
DROP TABLE event_chain;

-- Empty once every event is linked: the group commit and the start-up linking find the first
-- unlinked event by it without reading the log.
CREATE INDEX events_unlinked ON events (global_position) WHERE hash IS NULL;

CREATE FUNCTION events_reject_change_but_linking() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (NEW.global_position, NEW.stream_type, NEW.stream_id, NEW.stream_version, NEW.event_id,
            NEW.event_type, NEW.schema_version, NEW.payload, NEW.metadata, NEW.occurred_at,
            NEW.recorded_at)
           IS NOT DISTINCT FROM
           (OLD.global_position, OLD.stream_type, OLD.stream_id, OLD.stream_version, OLD.event_id,
            OLD.event_type, OLD.schema_version, OLD.payload, OLD.metadata, OLD.occurred_at,
            OLD.recorded_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed (but for the first link of an unlinked event)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

DROP TRIGGER events_append_only ON events;
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change_but_linking();
