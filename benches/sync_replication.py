#!/usr/bin/env python3
"""What a synchronous standby costs: the load benchmark with and without waiting for it.

    cargo build --release && cargo bench --no-run --bench load
    python3 benches/sync_replication.py [ROUNDS]

Makes a primary and a streaming standby on loopback (tests/ha/cluster.py) and two databases
on the primary: in one a commit waits until the standby has flushed its WAL
(`synchronous_commit = on` with `synchronous_standby_names = '*'`, what makes an acknowledged
command survive the primary's loss), in the other it does not (`ALTER DATABASE ... SET
synchronous_commit = local`; the standby still streams it). For each, ROUNDS times (default 2),
alternating: starts the release binary on it, runs workload A (`cargo bench --bench load`,
6,000 commands from 16 clients) and prints its commands/s. Everything runs on this machine,
standby included, so the standby's flush competes with the load for the same cores and disk.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "ha"))
from cluster import AS_POSTGRES, Cluster, free_port, psql  # noqa: E402


def run_load(database_url):
    port = free_port()
    service = subprocess.Popen([os.path.join(ROOT, "target/release/foldbank"), "--bind", f"127.0.0.1:{port}",
                                "--database-url", database_url, "--log", "warn"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        out = subprocess.run(["cargo", "bench", "--quiet", "--bench", "load", "--", "--url",
                              f"http://127.0.0.1:{port}", "--commands", "6000"],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        found = re.search(r"([0-9]+) commands/s", out)
        return int(found.group(1)) if found else None
    finally:
        service.terminate()
        service.wait()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    scratch = tempfile.mkdtemp(prefix="foldbank-sync-")
    os.chmod(scratch, 0o777)
    if AS_POSTGRES:
        shutil.chown(scratch, "postgres", "postgres")
    cluster = Cluster(scratch, fsync=True)
    try:
        cluster.start()
        base = f"postgres://postgres@127.0.0.1:{cluster.primary_port}"
        figures = {"synchronous standby": [], "no wait for the standby": []}
        for round_number in range(rounds):
            for name, setting in (("synchronous standby", "on"), ("no wait for the standby", "local")):
                database = f"bench_{setting}_{round_number}"
                psql(cluster.primary_port, f"CREATE DATABASE {database}")
                psql(cluster.primary_port, f"ALTER DATABASE {database} SET synchronous_commit = {setting}")
                figures[name].append(run_load(f"{base}/{database}"))
        for name, values in figures.items():
            print(f"{name}: " + " / ".join(f"{value:,} commands/s" for value in values))
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
