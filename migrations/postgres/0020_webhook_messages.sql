-- The webhook outbox (src/integration/outbox.rs, delivery.rs): one row per message a
-- subscription is still to receive, written by the outbox follower in the transaction that
-- moves its checkpoint (so each event is enqueued exactly once per subscription), deleted
-- once a receiver answered 2xx. `parked_at` is set when the attempts ran out: the message
-- stays, and so do the later messages of its account for that subscription, in order, until
-- it is retried.
CREATE TABLE webhook_messages (
    webhook_id      UUID        NOT NULL,
    position        BIGINT      NOT NULL,
    account_id      UUID        NOT NULL,
    event_id        UUID        NOT NULL,
    event_type      TEXT        NOT NULL,
    body            TEXT        NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error      TEXT,
    parked_at       TIMESTAMPTZ,
    PRIMARY KEY (webhook_id, position)
);

-- The message at the head of each account's line, and what waits behind it.
CREATE INDEX webhook_messages_by_account ON webhook_messages (webhook_id, account_id, position);
