#!/usr/bin/env python3
"""PostgreSQL failover under load: no acknowledged write lost, retried commands applied once.

    python3 tests/ha/failover.py target/release/foldbank

Creates, on loopback ports of their own and in a scratch directory removed at the end, a
primary and a synchronous standby with the installed PostgreSQL (initdb, pg_basebackup; as the
`postgres` user when run as root): a commit on the primary returns only once the standby has
its WAL. Starts foldbank on a URL naming both hosts (`target_session_attrs=read-write`) and
opens accounts; 16 clients then send deposits, withdrawals and transfers, each with an
`Idempotency-Key`, sending a command again with the same key and body after an answer that
does not say what happened (`outcome-unknown`, `storage-unavailable`, no answer at all).
Mid-load the primary is SIGKILLed and the standby promoted, as an orchestrator would.

Then, through the service (now on the promoted standby): every command that was answered 2xx
is in the log, once (deposits and withdrawals by their transaction id; transfers by their
id); the money is conserved (the ledger's total plus what is in flight equals the opening
deposits plus the acknowledged deposits less the acknowledged withdrawals); and
`foldbank verify` finds the read models equal to the fold of the promoted log. Prints the
failover time: from the kill to the first command answered 2xx that was sent after it.
"""

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

from cluster import foldbank, running

CLIENTS = 16
ACCOUNTS = 8
OPENING = 1_000_000
DEFINITE = {200, 201, 202, 404, 409, 422}


def call(base, method, path, body=None, key=None, timeout=15):
    """(status, json body); status None when no answer came."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read() or b"null")
        except ValueError:
            return error.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return None, None


class Outcomes:
    def __init__(self):
        self.lock = threading.Lock()
        self.acknowledged = []  # (kind, body, answer)
        self.retried = 0
        self.unknown = 0
        self.first_success_after_kill = None


def client(number, base, accounts, stop, killed_at, outcomes):
    rng = random.Random(number)
    while not stop.is_set():
        kind = rng.choice(["deposit", "withdrawal", "transfer"])
        account = rng.choice(accounts)
        if kind == "transfer":
            to = rng.choice([a for a in accounts if a != account])
            path = "/transfers"
            body = {"transfer_id": str(uuid.uuid4()), "from_account": account, "to_account": to,
                    "amount": rng.randint(1, 500), "currency": "EUR"}
        else:
            path = f"/accounts/{account}/{kind}s"
            body = {"amount": rng.randint(1, 500), "currency": "EUR"}
        key = str(uuid.uuid4())
        deadline = time.time() + 120
        tries = 0
        while True:
            sent_at = time.time()
            status, answer = call(base, "POST", path, body, key)
            tries += 1
            if status in DEFINITE:
                break
            if time.time() > deadline:
                with outcomes.lock:
                    outcomes.unknown += 1
                status = None
                break
            time.sleep(0.2)
        if status in (201, 202):
            with outcomes.lock:
                outcomes.acknowledged.append((kind, body, answer))
                if tries > 1:
                    outcomes.retried += 1
                if killed_at[0] and sent_at > killed_at[0] and outcomes.first_success_after_kill is None:
                    outcomes.first_success_after_kill = time.time()


def wait_until(what, check, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"never happened: {what}")


def main():
    binary = os.path.abspath(sys.argv[1])
    with running("foldbank-ha-") as cluster, foldbank(binary, cluster) as (service, base):
        wait_until("the service answers", lambda: call(base, "GET", "/health")[0] == 200)

        accounts = []
        for _ in range(ACCOUNTS):
            status, opened = call(base, "POST", "/accounts",
                                  {"owner_id": str(uuid.uuid4()), "currency": "EUR", "initial_deposit": OPENING})
            assert status == 201, (status, opened)
            accounts.append(opened["account_id"])

        stop, killed_at, outcomes = threading.Event(), [None], Outcomes()
        threads = [threading.Thread(target=client, args=(n, base, accounts, stop, killed_at, outcomes))
                   for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        time.sleep(2)
        before = len(outcomes.acknowledged)
        cluster.kill_primary()
        killed_at[0] = time.time()
        time.sleep(0.5)
        cluster.promote()
        promoted_at = time.time()
        wait_until("a command answered 2xx after the failover",
                   lambda: outcomes.first_success_after_kill is not None, seconds=60)
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join()

        acknowledged = outcomes.acknowledged
        assert before > 50, f"the load was running when the primary died: {before} commands"
        assert outcomes.unknown == 0, f"{outcomes.unknown} commands never got a definite answer"
        # Every acknowledged movement is in the promoted log, once.
        seen = {}
        for account in accounts:
            cursor = None
            while True:
                path = f"/accounts/{account}/events?limit=500" + (f"&cursor={cursor}" if cursor else "")
                status, page = call(base, "GET", path)
                assert status == 200, (status, page)
                for event in page["events"]:
                    transaction = event["data"].get("transaction_id")
                    if event["type"] in ("MoneyDeposited", "MoneyWithdrawn") and transaction:
                        seen[transaction] = seen.get(transaction, 0) + 1
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        deposited = withdrawn = 0
        for kind, body, answer in acknowledged:
            if kind == "transfer":
                status, transfer = call(base, "GET", f"/transfers/{body['transfer_id']}")
                assert status == 200, f"acknowledged transfer {body['transfer_id']} lost: {status}"
                continue
            transaction = answer["transaction_id"]
            assert seen.get(transaction) == 1, f"acknowledged {kind} {transaction} in the log {seen.get(transaction, 0)} times"
            if kind == "deposit":
                deposited += body["amount"]
            else:
                withdrawn += body["amount"]

        def settled():
            status, summary = call(base, "GET", "/ledger/summary")
            return status == 200 and summary["currencies"][0]["in_flight"] == 0 and summary
        wait_until("every transfer settled", settled)
        eur = settled()["currencies"][0]
        expected = ACCOUNTS * OPENING + deposited - withdrawn
        assert eur["total"] + eur["in_flight"] == expected, (eur, expected)

        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
        verified = subprocess.run([binary, "verify", "--database-url", cluster.standby_url(), "--log", "warn"],
                                  capture_output=True, text=True)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        failover = outcomes.first_success_after_kill - killed_at[0]
        print(f"failover: {len(acknowledged)} commands acknowledged ({before} before the kill), "
              f"{outcomes.retried} answered only after a retry with the same key, all in the promoted log once; "
              f"money conserved; verify passed; first command answered {failover:.1f} s after the kill "
              f"({promoted_at - killed_at[0]:.1f} s of which before the promotion)")


if __name__ == "__main__":
    main()
