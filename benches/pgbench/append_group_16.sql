-- The group-commit shape foldbank is moving to: one transaction under the global advisory lock
-- appends the events of 16 commands on 16 different accounts. pgbench's tps counts these
-- batches: appends per second = 16 x tps.
--
-- The read is the one the service sends (every stream's type and version, the log's head, the
-- head's link in the hash chain, for a VALUES list of stream ids); each event is inserted with its link (here a random 64-hex-digit stand-in for the
-- SHA-256 the service computes in its own process); the outer SELECT only folds its 16 rows into one, because
-- pgbench's \gset keeps a single row. Accounts are the integers 1..100000 written as UUIDs; a
-- batch takes 16 neighbours, so its streams always differ.
\set batch random(0, 6249)
\set a1 :batch * 16 + 1
\set a2 :batch * 16 + 2
\set a3 :batch * 16 + 3
\set a4 :batch * 16 + 4
\set a5 :batch * 16 + 5
\set a6 :batch * 16 + 6
\set a7 :batch * 16 + 7
\set a8 :batch * 16 + 8
\set a9 :batch * 16 + 9
\set a10 :batch * 16 + 10
\set a11 :batch * 16 + 11
\set a12 :batch * 16 + 12
\set a13 :batch * 16 + 13
\set a14 :batch * 16 + 14
\set a15 :batch * 16 + 15
\set a16 :batch * 16 + 16
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT pg_advisory_xact_lock(7378707864119521899);
WITH head AS (SELECT global_position, hash FROM events ORDER BY global_position DESC LIMIT 1)
SELECT
       MAX(version) FILTER (WHERE slot = 1) AS v1,
       MAX(version) FILTER (WHERE slot = 2) AS v2,
       MAX(version) FILTER (WHERE slot = 3) AS v3,
       MAX(version) FILTER (WHERE slot = 4) AS v4,
       MAX(version) FILTER (WHERE slot = 5) AS v5,
       MAX(version) FILTER (WHERE slot = 6) AS v6,
       MAX(version) FILTER (WHERE slot = 7) AS v7,
       MAX(version) FILTER (WHERE slot = 8) AS v8,
       MAX(version) FILTER (WHERE slot = 9) AS v9,
       MAX(version) FILTER (WHERE slot = 10) AS v10,
       MAX(version) FILTER (WHERE slot = 11) AS v11,
       MAX(version) FILTER (WHERE slot = 12) AS v12,
       MAX(version) FILTER (WHERE slot = 13) AS v13,
       MAX(version) FILTER (WHERE slot = 14) AS v14,
       MAX(version) FILTER (WHERE slot = 15) AS v15,
       MAX(version) FILTER (WHERE slot = 16) AS v16,
       MAX(head) AS head,
       MAX(head_hash) AS head_hash,
       bool_and(stream_type IS NULL OR stream_type = 'account') AS typed
FROM (
    SELECT v.column1 AS slot, s.stream_type,
           COALESCE((SELECT e.stream_version FROM events e WHERE e.stream_id = v.column2
                     ORDER BY e.stream_version DESC LIMIT 1), 0) AS version,
           COALESCE((SELECT global_position FROM head), 0) AS head,
           (SELECT hash FROM head) AS head_hash
    FROM (VALUES (1, lpad(to_hex(:a1), 32, '0')::uuid),
                 (2, lpad(to_hex(:a2), 32, '0')::uuid),
                 (3, lpad(to_hex(:a3), 32, '0')::uuid),
                 (4, lpad(to_hex(:a4), 32, '0')::uuid),
                 (5, lpad(to_hex(:a5), 32, '0')::uuid),
                 (6, lpad(to_hex(:a6), 32, '0')::uuid),
                 (7, lpad(to_hex(:a7), 32, '0')::uuid),
                 (8, lpad(to_hex(:a8), 32, '0')::uuid),
                 (9, lpad(to_hex(:a9), 32, '0')::uuid),
                 (10, lpad(to_hex(:a10), 32, '0')::uuid),
                 (11, lpad(to_hex(:a11), 32, '0')::uuid),
                 (12, lpad(to_hex(:a12), 32, '0')::uuid),
                 (13, lpad(to_hex(:a13), 32, '0')::uuid),
                 (14, lpad(to_hex(:a14), 32, '0')::uuid),
                 (15, lpad(to_hex(:a15), 32, '0')::uuid),
                 (16, lpad(to_hex(:a16), 32, '0')::uuid)) AS v
    LEFT JOIN streams s ON s.stream_id = v.column2
) AS current \gset
INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id,
                    event_type, schema_version, payload, metadata, occurred_at, recorded_at, hash)
SELECT :head + n, 'account', lpad(to_hex(account), 32, '0')::uuid, version + 1, gen_random_uuid(),
       'MoneyDeposited', 2,
       jsonb_build_object('amount', 1 + (random() * 999)::int, 'currency', 'EUR', 'description', NULL,
                          'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                          'transaction_id', gen_random_uuid()),
       jsonb_build_object('command', 'Deposit', 'causation_id', gen_random_uuid(),
                          'correlation_id', gen_random_uuid()),
       now(), clock_timestamp(), md5(random()::text) || md5(random()::text)
FROM (VALUES (1, :a1, :v1),
             (2, :a2, :v2),
             (3, :a3, :v3),
             (4, :a4, :v4),
             (5, :a5, :v5),
             (6, :a6, :v6),
             (7, :a7, :v7),
             (8, :a8, :v8),
             (9, :a9, :v9),
             (10, :a10, :v10),
             (11, :a11, :v11),
             (12, :a12, :v12),
             (13, :a13, :v13),
             (14, :a14, :v14),
             (15, :a15, :v15),
             (16, :a16, :v16)) AS batch (n, account, version);
COMMIT;
