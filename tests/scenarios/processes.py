"""Start `stoker server` in child processes for scenario tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_server(storage_url: str, *extra: str, workers: int = 4) -> subprocess.Popen[bytes]:
    """A `stoker server` process with short intervals, importing the tests' job modules."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "stoker", "--log-level", "WARNING", "server",
        "--storage", storage_url, "--workers", str(workers),
        "--poll-interval", "0.2", "--scheduler-interval", "0.1",
        "--heartbeat-interval", "0.3", "--server-timeout", "1.5", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env)


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
