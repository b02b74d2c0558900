"""A PostgreSQL primary and a synchronous standby on loopback, for the failover test
(`failover.py`), the replica reads test (`replica_reads.py`) and the replication benchmark
(`benches/sync_replication.py`).

Made with the installed PostgreSQL (initdb, pg_basebackup; as the `postgres` user when run as
root), on ports of their own, in a scratch directory the caller removes.
"""

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg(*args, **kwargs):
    return subprocess.run(AS_POSTGRES + [os.path.join(PG_BIN, args[0]), *args[1:]],
                          check=True, capture_output=True, text=True, **kwargs)


def psql(port, sql, database="postgres"):
    return pg("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", database,
              "-tAc", sql).stdout.strip()


def append(path, lines):
    with open(path, "a") as conf:
        conf.write("\n".join(lines) + "\n")


class Cluster:
    """A primary and its synchronous standby, each a data directory and a port."""

    def __init__(self, scratch, fsync=False):
        """`fsync=False` (the failover test): the servers' processes are killed, never the
        machine, so the OS keeps what they wrote; a benchmark wants the real flushes."""
        self.scratch = scratch
        self.fsync = fsync
        self.primary, self.standby = os.path.join(scratch, "primary"), os.path.join(scratch, "standby")
        self.primary_port, self.standby_port = free_port(), free_port()

    def start(self):
        pg("initdb", "-D", self.primary, "-A", "trust", "-U", "postgres", "--no-sync")
        append(os.path.join(self.primary, "postgresql.conf"), [
            f"port = {self.primary_port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.scratch}'",
            "wal_level = replica",
            "max_wal_senders = 4",
            "synchronous_commit = on",
            f"fsync = {'on' if self.fsync else 'off'}",
            "shared_buffers = 64MB",
        ])
        pg("pg_ctl", "-D", self.primary, "-l", self.primary + ".log", "-w", "start")
        psql(self.primary_port, "CREATE DATABASE foldbank")
        pg("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
           "-D", self.standby, "-R", "-X", "stream", "-c", "fast", "--no-sync")
        append(os.path.join(self.standby, "postgresql.conf"), [f"port = {self.standby_port}"])
        pg("pg_ctl", "-D", self.standby, "-l", self.standby + ".log", "-w", "start")
        # From now on a commit returns once the standby has flushed its WAL: what makes an
        # acknowledged write survive the primary's loss. (Set only now: until a standby is
        # attached, every commit would wait for one.)
        psql(self.primary_port, "ALTER SYSTEM SET synchronous_standby_names = '*'")
        psql(self.primary_port, "SELECT pg_reload_conf()")
        for _ in range(100):
            if psql(self.primary_port, "SELECT sync_state FROM pg_stat_replication") == "sync":
                return
            time.sleep(0.1)
        raise SystemExit("the standby never became synchronous")

    def url(self):
        return (f"postgres://postgres@127.0.0.1:{self.primary_port},127.0.0.1:{self.standby_port}"
                "/foldbank?target_session_attrs=read-write")

    def standby_url(self):
        return f"postgres://postgres@127.0.0.1:{self.standby_port}/foldbank"

    def kill_primary(self):
        with open(os.path.join(self.primary, "postmaster.pid")) as pid_file:
            postmaster = int(pid_file.readline())
        subprocess.run(["pkill", "-KILL", "-P", str(postmaster)], check=False)
        os.kill(postmaster, signal.SIGKILL)

    def promote(self):
        pg("pg_ctl", "-D", self.standby, "-w", "promote")

    def stop_standby(self):
        pg("pg_ctl", "-D", self.standby, "-m", "immediate", "-w", "stop")

    def stop(self):
        for data in (self.standby, self.primary):
            subprocess.run(AS_POSTGRES + [os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-m", "immediate", "stop"],
                           capture_output=True, check=False)


@contextlib.contextmanager
def running(prefix):
    """A primary and its synchronous standby, started in a scratch directory of their own. On a
    failure the logs (the service's `foldbank.log` too) are printed; the servers are always
    stopped and the directory removed."""
    scratch = tempfile.mkdtemp(prefix=prefix)
    os.chmod(scratch, 0o777)
    if AS_POSTGRES:
        shutil.chown(scratch, "postgres", "postgres")
    cluster = Cluster(scratch)
    try:
        cluster.start()
        yield cluster
    except BaseException:
        for name in ("foldbank.log", "primary.log", "standby.log"):
            path = os.path.join(scratch, name)
            if os.path.exists(path):
                print(f"--- {name}", file=sys.stderr)
                print(open(path).read()[-4000:], file=sys.stderr)
        raise
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def foldbank(binary, cluster, *args):
    """The foldbank binary on a free loopback port, on `cluster` (the URL naming both hosts),
    with a master key of its own and `args`; its log in the scratch directory. Yields
    `(process, base URL)`; kills it at the end unless it has stopped."""
    key_file = os.path.join(cluster.scratch, "master.key")
    subprocess.run([binary, "master-key", "create", key_file, "--log", "warn"], check=True,
                   capture_output=True)
    port = free_port()
    with open(os.path.join(cluster.scratch, "foldbank.log"), "w") as log:
        process = subprocess.Popen([binary, "--bind", f"127.0.0.1:{port}", "--database-url", cluster.url(),
                                    "--master-key-file", key_file, "--log", "warn", *args],
                                   stdout=log, stderr=log)
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
