"""Server processes for the reliability tests: started, signalled and killed, logs kept in files."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Short intervals so a dead server is noticed in about two seconds; the semantics are those of
# the defaults (heartbeat 30 s, server timeout 300 s, scheduler 1 s).
FAST_CLI = (
    "--poll-interval", "0.2", "--scheduler-interval", "0.1",
    "--heartbeat-interval", "0.3", "--server-timeout", "1.5",
)  # fmt: skip
FAST_OPTIONS: dict[str, Any] = {
    "poll_interval": 0.2,
    "scheduler_interval": 0.1,
    "heartbeat_interval": 0.3,
    "server_timeout": 1.5,
    "cancellation_interval": 0.1,
}
_numbers = itertools.count(1)


class ServerProcess:
    """One child process whose output (its log) goes to a file the test can read."""

    def __init__(self, command: list[str], log_dir: Path, label: str) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{label}-{next(_numbers)}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, signum: int) -> None:
        if self.alive():
            self.process.send_signal(signum)

    def kill9(self) -> int:
        self.send(signal.SIGKILL)
        return self.process.wait(10)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0, *, signal_sent: bool = False) -> int:
        """SIGTERM and wait; SIGKILL if it does not stop in time (then the test failed anyway).
        Never a second SIGTERM: that means "stop now", and once the server restored the default
        handlers on its way out, it would end the process with -15."""
        if not signal_sent:
            self.send(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # SIGABRT first: faulthandler (PYTHONFAULTHANDLER=1) writes every thread's stack to
            # the log, which says where the server hung. The return code still shows failure.
            self.process.send_signal(signal.SIGABRT)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def cli_server(
    storage_url: str,
    log_dir: Path,
    *extra: str,
    workers: int = 4,
    log_level: str = "WARNING",
    fast: bool = True,
) -> ServerProcess:
    """`stoker server` exactly as users run it (short intervals unless `fast` is False)."""
    command = [
        sys.executable, "-m", "stoker", "--log-level", log_level, "server",
        "--storage", storage_url, "--workers", str(workers),
        *(FAST_CLI if fast else ()), *extra,
    ]  # fmt: skip
    return ServerProcess(command, log_dir, "stoker-server")


def custom_server(
    storage_url: str,
    log_dir: Path,
    options: dict[str, Any],
    *,
    skew: float = 0.0,
    retention_succeeded: float | None = None,
    log_level: str = "WARNING",
) -> ServerProcess:
    """`App(url, clock=…, retention=…).run_server(**options)` in a child process, for settings
    the command line does not offer (a skewed clock, a short retention, max_crashes)."""
    command = [
        sys.executable, "-m", "tests.reliability.serve", "--storage", storage_url,
        "--options", json.dumps(options), "--skew", str(skew), "--log-level", log_level,
    ]  # fmt: skip
    if retention_succeeded is not None:
        command += ["--retention-succeeded", str(retention_succeeded)]
    return ServerProcess(command, log_dir, "custom-server")


def stop_all(servers: list[ServerProcess], timeout: float = 20.0) -> list[int]:
    """Stop every server at once (SIGTERM to all first, so they shut down in parallel)."""
    for server in servers:
        server.send(signal.SIGTERM)
    return [server.stop(timeout, signal_sent=True) for server in servers]
