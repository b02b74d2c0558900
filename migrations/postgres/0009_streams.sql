-- Every stream id belongs to one stream type, for good: an account's id can never name a
-- transfer, nor a transfer's id an account (src/store/group_commit.rs checks it under the log's
-- lock and refuses the append with `id-in-use`; this primary key is the last guard).
-- A row is written with the first event of its stream, in the same transaction.
CREATE TABLE streams (
    stream_id   UUID PRIMARY KEY,
    stream_type TEXT NOT NULL
);

-- The streams of the log as it stands (ids were never shared across types: an append to a
-- stream of another type always conflicted on its version).
INSERT INTO streams (stream_id, stream_type)
SELECT stream_id, stream_type FROM events WHERE stream_version = 1;
