-- Events a follower could not handle after several tries, set aside so that it can move on
-- (src/follow/parking.rs). The follower's checkpoint moved past each one in the same
-- transaction that parked it; an operator retries or skips it (foldbank parked ...).
CREATE TABLE parked_events (
    -- The follower (projection or process manager) that parked it, by checkpoint name.
    follower        TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    event_id        UUID    NOT NULL,
    event_type      TEXT    NOT NULL,
    -- The last failure, with its causes.
    error           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    -- Set by "foldbank parked retry": the running follower handles it again.
    retry_requested BOOLEAN NOT NULL DEFAULT FALSE,
    parked_at       TIMESTAMPTZ    NOT NULL,
    PRIMARY KEY (follower, position)
);
