-- append_locked.sql without the advisory lock: a ceiling, not a correct append.
--
-- Without the lock, MAX(global_position) + 1 would collide between concurrent clients, so the
-- position is a random large number instead, and ON CONFLICT DO NOTHING drops the rare row that
-- still collides (two clients on the same account at once) rather than aborting the client.
-- The log this writes has gaps and is not in commit order: it only shows what the same
-- statements cost when appends do not wait for each other.
\set account random(1, 100000)
\set amount random(1, 1000)
\set position random(1000000000, 9000000000000000000)
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT COALESCE(MAX(stream_version), 0) AS version
    FROM events WHERE stream_id = lpad(to_hex(:account), 32, '0')::uuid \gset
SELECT COALESCE(MAX(global_position), 0) AS head FROM events \gset
INSERT INTO events (global_position, stream_type, stream_id, stream_version, event_id,
                    event_type, schema_version, payload, metadata, occurred_at, recorded_at)
VALUES (:position, 'account', lpad(to_hex(:account), 32, '0')::uuid, :version + 1, gen_random_uuid(),
        'MoneyDeposited', 2,
        jsonb_build_object('amount', :amount, 'currency', 'EUR', 'description', NULL,
                           'occurred_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                           'transaction_id', gen_random_uuid()),
        jsonb_build_object('command', 'Deposit', 'causation_id', gen_random_uuid(),
                           'correlation_id', gen_random_uuid()),
        now(), clock_timestamp())
ON CONFLICT DO NOTHING;
COMMIT;
