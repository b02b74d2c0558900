-- Subscriptions to the integration events (src/integration/): where to send them, which types,
-- and the secret they are signed with. The secret is kept as written (`whsec_<base64>`): an
-- HMAC needs the key itself, so it cannot be stored as a digest the way API keys are.
-- `starts_after` is the log position the subscription was made at: it is sent the events after it.
CREATE TABLE webhook_subscriptions (
    webhook_id   UUID        PRIMARY KEY,
    url          TEXT        NOT NULL,
    event_types  TEXT        NOT NULL,
    description  TEXT,
    secret       TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    starts_after BIGINT      NOT NULL
);
