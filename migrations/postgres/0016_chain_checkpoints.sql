-- Signed checkpoints of the hash chain (src/store/chain/checkpoint.rs): the chain's head at
-- `global_position`, its link `hash` (64 lowercase hex digits), and the Ed25519 `signature`
-- (base64 of 64 bytes) over the ASCII bytes `foldbank-chain:v1:{global_position}:{hash}`.
-- Written by the process that leads the signing, at most every N events or T seconds;
-- append-only, as the log is.
CREATE TABLE chain_checkpoints (
    global_position BIGINT      PRIMARY KEY CHECK (global_position > 0),
    hash            TEXT        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    signature       TEXT        NOT NULL,
    signed_at       TIMESTAMPTZ NOT NULL
);

CREATE TRIGGER chain_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON chain_checkpoints
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER chain_checkpoints_no_truncate
    BEFORE TRUNCATE ON chain_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();
