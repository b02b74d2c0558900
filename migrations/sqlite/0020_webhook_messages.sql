-- The webhook outbox (src/integration/outbox.rs, delivery.rs): one row per message a
-- subscription is still to receive, written by the outbox follower in the transaction that
-- moves its checkpoint (so each event is enqueued exactly once per subscription), deleted
-- once a receiver answered 2xx. `parked_at` is set when the attempts ran out: the message
-- stays, and so do the later messages of its account for that subscription, in order, until
-- it is retried.
CREATE TABLE webhook_messages (
    webhook_id      TEXT        NOT NULL,
    position        INTEGER     NOT NULL,
    account_id      TEXT        NOT NULL,
    event_id        TEXT        NOT NULL,
    event_type      TEXT        NOT NULL,
    body            TEXT        NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TEXT        NOT NULL,
    last_error      TEXT,
    parked_at       TEXT,
    PRIMARY KEY (webhook_id, position)
);

-- The message at the head of each account's line, and what waits behind it.
CREATE INDEX webhook_messages_by_account ON webhook_messages (webhook_id, account_id, position);
