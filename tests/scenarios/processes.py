"""Start `stoker server` in child processes for scenario tests."""

from __future__ import annotations

import json
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


RACER = """
import json, sys
import stoker
from tests.scenarios import scenario_jobs as jobs
app = stoker.App(sys.argv[1])
client = app.with_options(**json.loads(sys.argv[2]))
ids = {client.enqueue(jobs.add, n, n) for n in range(int(sys.argv[3]))}
app.close()
print(json.dumps(sorted(ids)))
"""


def race_enqueues(storage_url: str, options: dict[str, str], count: int) -> set[str]:
    """Two processes each enqueue `count` jobs through `app.with_options(**options)` at the
    same time; the ids all their calls returned."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", RACER, storage_url, json.dumps(options), str(count)]
    racers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=300)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0]
    return {job_id for output in outputs for job_id in json.loads(output)}
