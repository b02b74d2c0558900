-- Each owner's data key (src/privacy/): the key their personal fields are sealed with,
-- stored only wrapped by the master key whose id is `master_key_id` (the master key itself is
-- a file the service reads, never stored here). Erasing the owner ("crypto-shredding") clears
-- the wrapped key and keeps the row as a tombstone: every personal field sealed for the owner,
-- in events, snapshots, read models and recorded responses, can no longer be opened, and no
-- new key is ever made for them.
CREATE TABLE owner_keys (
    owner_id      UUID        PRIMARY KEY,
    wrapped_key   TEXT,
    master_key_id TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    erased_at     TIMESTAMPTZ,
    CHECK (
        (erased_at IS NULL AND wrapped_key IS NOT NULL AND master_key_id IS NOT NULL)
        OR (erased_at IS NOT NULL AND wrapped_key IS NULL AND master_key_id IS NULL)
    )
);

-- `foldbank master-key rotate` re-wraps the keys of one master key at a time.
CREATE INDEX owner_keys_by_master_key ON owner_keys (master_key_id) WHERE master_key_id IS NOT NULL;
