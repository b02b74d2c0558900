-- Snapshots: the folded state of a stream at some version, so loading an aggregate replays only
-- the events after it. A cache, not a source of truth: rows may be replaced or deleted at any
-- time, and the events alone always rebuild the same state.
CREATE TABLE snapshots (
    stream_id      UUID PRIMARY KEY,
    stream_type    TEXT NOT NULL,
    -- The stream version (and global position) of the last event folded into the state.
    version        BIGINT NOT NULL,
    position       BIGINT NOT NULL,
    -- The shape of the serialized state; snapshots of another shape are ignored.
    schema_version INTEGER NOT NULL,
    state          JSONB NOT NULL,
    taken_at       TIMESTAMPTZ NOT NULL
);
