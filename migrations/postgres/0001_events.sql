-- The event log: the single source of truth. Everything else is derived from it.
CREATE TABLE events (
    -- Gap-free, commit-ordered position in the whole log (see src/store/postgres.rs).
    global_position BIGINT      PRIMARY KEY CHECK (global_position > 0),
    stream_type     TEXT        NOT NULL,
    stream_id       UUID        NOT NULL,
    -- 1, 2, 3 ... per stream; the unique constraint below is the optimistic-concurrency check.
    stream_version  BIGINT      NOT NULL CHECK (stream_version > 0),
    event_id        UUID        NOT NULL UNIQUE,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL CHECK (schema_version > 0),
    payload         JSONB       NOT NULL,
    -- correlation_id (the request id), causation_id (the command id), command name.
    metadata        JSONB       NOT NULL,
    -- Business time, chosen by the command (an injectable clock).
    occurred_at     TIMESTAMPTZ NOT NULL,
    -- Wall-clock time of the append, for operations (projection lag).
    recorded_at     TIMESTAMPTZ NOT NULL,
    CONSTRAINT events_stream_version_unique UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_stream_occurred_at ON events (stream_id, occurred_at);

-- Append-only, enforced by the database itself: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();
