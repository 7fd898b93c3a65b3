"""Private PostgreSQL and Redis servers on free ports, which tests may stop and start at will.

The shared services on 5432/6379 are never restarted. The approach is that of
tests/storage/test_postgres_restart.py and test_redis_private_server.py: initdb + pg_ctl in a
temporary directory (run as the `postgres` user when we are root, since PostgreSQL refuses to
run as root), and redis-server with an append-only file in a temporary directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Protocol

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "s3cret-never-logged"  # in every URL, to prove that logs never show it


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def missing(what: str) -> None:
    """Skip when a server binary is not installed here; in CI that is a failure."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: it is required)")
    pytest.skip(what)


class PrivateDatabase(Protocol):
    url: str
    kind: str

    def start(self) -> None: ...

    def stop(self, mode: str = "fast") -> None: ...

    def close(self) -> None: ...


class PrivatePostgres:
    """A throw-away PostgreSQL cluster (fsync off: we test restarts, not power cuts)."""

    kind = "postgres"

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = found[-1] if found else shutil.which("initdb")
        if initdb is None:
            missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        assert initdb is not None
        self.bin_dir = os.path.dirname(initdb)
        self.root = tempfile.mkdtemp(prefix="stoker-reliability-pg-")
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = os.path.join(self.root, "data")
        self.port = free_port()
        # trust authentication ignores the password; it is in the URL to check the logs
        self.url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def _run(self, *args: str) -> None:
        command = [os.path.join(self.bin_dir, args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        log = os.path.join(self.root, "server.log")
        self._run("pg_ctl", "start", "-D", self.data, "-l", log, "-o", options, "-w")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: disconnect everyone and shut down cleanly; `immediate`: like a crash (the
        next start runs crash recovery)."""
        self._run("pg_ctl", "stop", "-D", self.data, "-m", mode, "-w")

    def close(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """redis-server with an append-only file: a restart keeps every acknowledged write."""

    kind = "redis"

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            missing("redis-server is not installed")
        self.dir = tempfile.mkdtemp(prefix="stoker-reliability-redis-")
        self.port = free_port()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0?prefix=reliability"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        command = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "yes", "--dir", self.dir, "--requirepass", PASSWORD,
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, password=PASSWORD)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def stop(self, mode: str = "fast") -> None:
        """`fast`: SIGTERM (Redis writes the AOF and exits); `immediate`: SIGKILL."""
        if self.process is None:
            return
        if mode == "immediate":
            self.process.kill()
        else:
            self.process.terminate()
        self.process.wait(15)
        self.process = None

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
