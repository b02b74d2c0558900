-- API keys (src/auth/): who may call the service. A key is shown once, when it is created;
-- only a SHA-256 digest of it is kept.
CREATE TABLE api_keys (
    key_id      TEXT    PRIMARY KEY,
    -- 'customer' (bound to one owner_id: sees and moves only that owner's accounts) or
    -- 'operator' (everything, and the operations endpoints).
    kind        TEXT    NOT NULL CHECK (kind IN ('customer', 'operator')),
    owner_id    TEXT,
    label       TEXT,
    secret_hash TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    -- Set by "foldbank keys revoke": the key stops working at once.
    revoked_at  TEXT,
    CHECK ((kind = 'customer') = (owner_id IS NOT NULL))
);
