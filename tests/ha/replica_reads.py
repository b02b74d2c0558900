#!/usr/bin/env python3
"""Queries served by a hot standby, with read-your-writes through `min_position`.

    python3 tests/ha/replica_reads.py target/release/foldbank

Creates a primary and a synchronous standby on loopback (`cluster.py`) and starts foldbank on
the primary with `--replica-url` naming the standby. Then, over HTTP:

1. read-your-writes: 40 times, a deposit, then at once its account's balance with the
   deposit's `position` as `min_position`: every answer shows the deposit, and the replica
   served most of them (`foldbank_replica_reads_total{outcome="served"}`);
2. the replica really serves: with its WAL replay paused, a read without `min_position`
   answers the balance from before the next deposit (the standby's, stale), a read with the
   deposit's position answers the new balance (the primary's, after the replica wait:
   `outcome="behind"`), and `/metrics` shows the replica's lag; replay resumed, the replica
   serves that read itself;
3. a replica that goes away costs no error: with the standby stopped, reads answer 200 from
   the primary (`outcome="failed"`, then the replica rests) and `foldbank_replica_up` is 0.
"""

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid

from cluster import foldbank, psql, running

OPENING = 10_000
ROUNDS = 40


def call(base, method, path, body=None, key=None):
    """(status, json body or text, headers); all None when no answer came."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
            headers = response.headers
            status = response.status
    except urllib.error.HTTPError as error:
        raw, headers, status = error.read(), error.headers, error.code
    except (urllib.error.URLError, OSError):
        return None, None, None
    text = raw.decode()
    try:
        return status, json.loads(text), headers
    except ValueError:
        return status, text, headers


def wait_until(what, check, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


def metric(base, name, **labels):
    """The value of the series `name` whose labels include `labels`; None when absent."""
    status, text, _ = call(base, "GET", "/metrics")
    assert status == 200, status
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(label) == value for label, value in labels.items()):
            return float(match.group(3))
    return None


def reads(base, replica, outcome):
    return metric(base, "foldbank_replica_reads_total", replica=replica, outcome=outcome) or 0


def deposit(base, account, amount):
    status, answer, _ = call(base, "POST", f"/accounts/{account}/deposits",
                             {"amount": amount, "currency": "EUR", "description": "replica test"}, key=str(uuid.uuid4()))
    assert status == 201, (status, answer)
    return answer["position"]


def balance(base, account, min_position=None):
    path = f"/accounts/{account}/balance" + (f"?min_position={min_position}" if min_position is not None else "")
    status, answer, headers = call(base, "GET", path)
    assert status == 200, (status, answer)
    return answer["balance"], int(headers["X-Projection-Position"])


def main():
    binary = os.path.abspath(sys.argv[1])
    with (
        running("foldbank-replica-") as cluster,
        foldbank(binary, cluster, "--replica-url", cluster.standby_url()) as (_, base),
    ):
        wait_until("the service answers", lambda: call(base, "GET", "/health")[0] == 200)
        replica = f"127.0.0.1:{cluster.standby_port}/foldbank"

        status, opened, _ = call(base, "POST", "/accounts",
                                 {"owner_id": str(uuid.uuid4()), "currency": "EUR", "initial_deposit": OPENING})
        assert status == 201, (status, opened)
        account = opened["account_id"]

        # 1. Read-your-writes, every time.
        expected = OPENING
        for round_ in range(ROUNDS):
            expected += round_ + 1
            position = deposit(base, account, round_ + 1)
            seen, reflected = balance(base, account, min_position=position)
            assert seen == expected, f"round {round_}: balance {seen}, wrote {expected} (position {position})"
            assert reflected >= position, (reflected, position)
        served = reads(base, replica, "served")
        behind = reads(base, replica, "behind")
        assert served + behind == ROUNDS, (served, behind)
        assert served >= ROUNDS // 2, f"the replica served {served} of {ROUNDS} reads ({behind} behind)"
        ryw = f"{int(served)} served by the replica, {int(behind)} by the primary after the replica wait"
        assert reads(base, replica, "failed") == 0

        # 2. With replay paused, the replica is stale: proof that it is what answers.
        wait_until("the replica has every deposit so far", lambda: balance(base, account)[0] == expected)
        psql(cluster.standby_port, "SELECT pg_wal_replay_pause()")
        wait_until("replay paused",
                   lambda: psql(cluster.standby_port, "SELECT pg_get_wal_replay_pause_state()") == "paused")
        before_pause = expected
        position = deposit(base, account, 500)
        expected += 500
        stale, stale_position = balance(base, account)
        assert stale == before_pause and stale_position < position, (stale, stale_position, position)
        fresh, fresh_position = balance(base, account, min_position=position)
        assert fresh == expected and fresh_position >= position, (fresh, fresh_position, position)
        assert reads(base, replica, "behind") == behind + 1
        wait_until("the primary's read models are past the replica's",
                   lambda: (metric(base, "foldbank_replica_lag_events", replica=replica) or 0) >= 1)
        lag_seconds = metric(base, "foldbank_replica_lag_seconds", replica=replica)
        assert lag_seconds is not None and lag_seconds > 0, lag_seconds
        assert metric(base, "foldbank_replica_up", replica=replica) == 1
        psql(cluster.standby_port, "SELECT pg_wal_replay_resume()")
        served = reads(base, replica, "served")
        wait_until("the replica serves the new balance",
                   lambda: balance(base, account, min_position=position)[0] == expected
                   and reads(base, replica, "served") > served)
        wait_until("the replica's lag is back to 0",
                   lambda: metric(base, "foldbank_replica_lag_events", replica=replica) == 0)

        # 3. The replica goes away: the primary answers every read. (The primary stops waiting
        # for a synchronous standby first, or its commits would wait for one forever.)
        psql(cluster.primary_port, "ALTER SYSTEM SET synchronous_standby_names = ''")
        psql(cluster.primary_port, "SELECT pg_reload_conf()")
        cluster.stop_standby()
        position = deposit(base, account, 7)
        expected += 7
        for _ in range(5):
            assert balance(base, account, min_position=position)[0] == expected
            assert balance(base, account)[0] == expected
        failed = reads(base, replica, "failed")
        assert failed >= 1, "a read went to the stopped replica and was answered by the primary"
        assert metric(base, "foldbank_replica_up", replica=replica) == 0

        print(f"replica reads: {ROUNDS} writes each read back at once through min_position "
              f"({ryw}); "
              f"replay paused: stale without min_position, fresh with it, lag {lag_seconds:.2f} s shown; "
              f"replica stopped: every read answered by the primary ({int(failed)} failed over)")


if __name__ == "__main__":
    main()
