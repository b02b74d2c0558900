-- Responses to requests that carried an Idempotency-Key, written in the same transaction as the
-- events they answer (src/store/group_commit.rs): a retried request finds its answer, or finds
-- nothing because nothing was written. Kept at least 24 h, then deleted.
CREATE TABLE idempotency_keys (
    -- Whose key: keys of different callers never collide.
    scope       TEXT        NOT NULL,
    key         TEXT        NOT NULL,
    -- A digest of the request (method, path, body): the same key with another request is refused.
    fingerprint TEXT        NOT NULL,
    status      INTEGER     NOT NULL,
    body        JSONB       NOT NULL,
    etag        TEXT,
    location    TEXT,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (recorded_at);

-- A reversal looks up the movement it undoes in the log (the account's state does not keep
-- every movement): by the movement's id, and by a reversal's own id.
CREATE INDEX events_by_transaction ON events ((payload->>'transaction_id'))
    WHERE (payload->>'transaction_id') IS NOT NULL;
CREATE INDEX events_by_reversal ON events ((payload->>'reversal_id'))
    WHERE (payload->>'reversal_id') IS NOT NULL;
