-- The event log: the single source of truth. Everything else is derived from it.
-- UUIDs are stored as hyphenated TEXT, timestamps as fixed-width RFC 3339 TEXT in UTC with
-- microseconds ("2026-11-27T11:50:00.000000Z") so that text order is time order.
CREATE TABLE events (
    -- Gap-free, commit-ordered position in the whole log (see src/store/sqlite.rs).
    global_position INTEGER PRIMARY KEY CHECK (global_position > 0),
    stream_type     TEXT    NOT NULL,
    stream_id       TEXT    NOT NULL,
    -- 1, 2, 3 ... per stream; the unique constraint below is the optimistic-concurrency check.
    stream_version  INTEGER NOT NULL CHECK (stream_version > 0),
    event_id        TEXT    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL CHECK (schema_version > 0),
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    -- correlation_id (the request id), causation_id (the command id), command name.
    metadata        TEXT    NOT NULL CHECK (json_valid(metadata)),
    -- Business time, chosen by the command (an injectable clock).
    occurred_at     TEXT    NOT NULL,
    -- Wall-clock time of the append, for operations (projection lag).
    recorded_at     TEXT    NOT NULL,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_stream_occurred_at ON events (stream_id, occurred_at);

-- Append-only, enforced by the database itself: no UPDATE or DELETE, whoever asks.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE on events is not allowed');
END;

CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: DELETE on events is not allowed');
END;
