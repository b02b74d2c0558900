-- A replay asked for (`POST /webhooks/{id}/replay`): the sender enqueues the subscription's
-- messages for the log positions `replay_next` to `replay_until` again, a page at a time,
-- moving `replay_next` in the transaction that writes each page; both are NULL when none is
-- under way. `replay_until` is where the outbox's checkpoint stood when the replay was asked
-- for: what comes after, the outbox enqueues.
ALTER TABLE webhook_subscriptions ADD COLUMN replay_next BIGINT;
ALTER TABLE webhook_subscriptions ADD COLUMN replay_until BIGINT;

-- Bumped each time a replay enqueues a message the subscription still had: a batch in flight
-- when that happened records nothing for it (the replayed message is sent again).
ALTER TABLE webhook_messages ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

-- Every attempt to deliver a message, as `GET /webhooks/{id}/deliveries` shows them: written
-- in the transaction that records the batch's outcomes; the most recent ones of each
-- subscription are kept (src/integration/delivery.rs prunes the rest).
CREATE TABLE webhook_attempts (
    attempt_id   BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id   UUID        NOT NULL,
    position     BIGINT      NOT NULL,
    account_id   UUID        NOT NULL,
    event_id     UUID        NOT NULL,
    event_type   TEXT        NOT NULL,
    attempt      INTEGER     NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL,
    outcome      TEXT        NOT NULL,
    status       INTEGER,
    latency_ms   BIGINT      NOT NULL,
    error        TEXT
);

CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, attempt_id);

-- The `Idempotency-Key` a subscription was made with (scoped to its caller) and a digest of
-- the request: the same request sent again with its key answers this subscription again
-- rather than making a second one.
ALTER TABLE webhook_subscriptions ADD COLUMN idempotency_key TEXT;
ALTER TABLE webhook_subscriptions ADD COLUMN request_fingerprint TEXT;
CREATE UNIQUE INDEX webhook_subscriptions_by_idempotency_key ON webhook_subscriptions (idempotency_key);
