-- One command, appended exactly as foldbank does today (src/store/sql.rs, src/db/mod.rs): one
-- transaction per command, serialized by the global advisory lock, the stream's version and the
-- log's head read under the lock, one event inserted at head + 1.
--
-- Accounts are the integers 1..100000 written as UUIDs, so concurrent clients mostly hit
-- different streams, as a bank's customers do.
\set account random(1, 100000)
\set amount random(1, 1000)
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT pg_advisory_xact_lock(7378707864119521899);
SELECT COALESCE(MAX(stream_version), 0) AS version
    FROM events WHERE stream_id = lpad(to_hex(:account), 32, '0')::uuid \gset
SELECT COALESCE(MAX(global_position), 0) AS head FROM events \gset
INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id,
                    event_type, schema_version, payload, metadata, occurred_at, recorded_at)
VALUES (:head + 1, 'account', lpad(to_hex(:account), 32, '0')::uuid, :version + 1, gen_random_uuid(),
        'MoneyDeposited', 2,
        jsonb_build_object('amount', :amount, 'currency', 'EUR', 'description', NULL,
                           'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                           'transaction_id', gen_random_uuid()),
        jsonb_build_object('command', 'Deposit', 'causation_id', gen_random_uuid(),
                           'correlation_id', gen_random_uuid()),
        now(), clock_timestamp());
COMMIT;
