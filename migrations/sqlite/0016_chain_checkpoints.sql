-- Signed checkpoints of the hash chain (src/store/chain/checkpoint.rs): the chain's head at
-- `global_position`, its link `hash` (64 lowercase hex digits), and the Ed25519 `signature`
-- (base64 of 64 bytes) over the ASCII bytes `foldbank-chain:v1:{global_position}:{hash}`.
-- Written by the process that leads the signing, at most every N events or T seconds;
-- append-only, as the log is.
CREATE TABLE chain_checkpoints (
    global_position INTEGER PRIMARY KEY CHECK (global_position > 0),
    hash            TEXT    NOT NULL CHECK (length(hash) = 64 AND hash NOT GLOB '*[^0-9a-f]*'),
    signature       TEXT    NOT NULL,
    signed_at       TEXT    NOT NULL
);

CREATE TRIGGER chain_checkpoints_no_update BEFORE UPDATE ON chain_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'signed checkpoints are append-only: UPDATE on chain_checkpoints is not allowed');
END;

CREATE TRIGGER chain_checkpoints_no_delete BEFORE DELETE ON chain_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'signed checkpoints are append-only: DELETE on chain_checkpoints is not allowed');
END;
