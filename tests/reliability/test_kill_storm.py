"""Kill storm: server processes die by SIGKILL again and again; every job still succeeds once
or more, and only jobs that were in flight at a kill run twice (at-least-once, never lost)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

import stoker
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.servers import ServerProcess, cli_server, stop_all
from tests.reliability.support import (
    FULL,
    Figures,
    read_runs,
    seconds,
    size,
    storage_kind,
)

JOBS = size(2_000, 20_000)
SERVERS = 3
WORKERS = 4
JOB_SECONDS = 0.03  # long enough that every kill catches jobs in flight
KILL_EVERY = seconds(1.5, 2.0)
LIMIT = seconds(90, 900)  # the whole storm must be over by then

pytestmark = [pytest.mark.slow, pytest.mark.timeout(LIMIT + 60)]


def _enqueue(app: stoker.App, runs: Path) -> list[str]:
    ids: list[str] = []
    for start in range(0, JOBS, 1000):
        calls = [(str(runs), n, JOB_SECONDS) for n in range(start, min(JOBS, start + 1000))]
        ids += app.enqueue_many(jobs.mark, calls)
    return ids


def _storm(app: stoker.App, storage_url: str, logs: Path) -> tuple[int, float]:
    """Run SERVERS servers, SIGKILL a random one every KILL_EVERY s and start a new one, until
    every job succeeded. Returns (kills, seconds)."""
    rng = random.Random(7)  # a fixed seed: the same order of victims every run
    servers: list[ServerProcess] = []
    kills = 0
    began = time.monotonic()
    try:
        servers = [cli_server(storage_url, logs, workers=WORKERS) for _ in range(SERVERS)]
        next_kill = began + KILL_EVERY
        while app.storage.count_by_state()["Succeeded"] < JOBS:
            now = time.monotonic()
            assert now - began < LIMIT, (
                f"unfinished after {LIMIT} s: {app.storage.count_by_state()}"
            )
            # Victims are servers that are up (registered): killing one still importing proves
            # nothing, and the storm must not outpace the restarts.
            up = _registered(app, servers)
            if now >= next_kill and up:
                victim = rng.choice(up)
                servers[victim].kill9()
                kills += 1
                servers[victim] = cli_server(storage_url, logs, workers=WORKERS)
                next_kill = now + KILL_EVERY
            time.sleep(0.05)
        elapsed = time.monotonic() - began
        # Only stop servers that finished starting (before that, SIGTERM ends Python at once).
        wait_for(lambda: len(_registered(app, servers)) == SERVERS, 30, "every server to be up")
    finally:
        codes = stop_all(servers)
    assert codes == [0] * SERVERS
    return kills, elapsed


def _registered(app: stoker.App, servers: list[ServerProcess]) -> list[int]:
    """Indexes of the servers that announced themselves to the storage."""
    pids = {record.pid for record in app.storage.list_servers()}
    return [index for index, server in enumerate(servers) if server.pid in pids]


def _crash_counts(app: stoker.App) -> dict[str, int]:
    """Job id -> how many times its server died while running it (the `crashes` parameter)."""
    crashed: dict[str, int] = {}
    for offset in range(0, JOBS, 1000):
        for record in app.storage.list_jobs("Succeeded", offset=offset, limit=1000):
            if record.params.get("crashes"):
                crashed[record.id] = int(record.params["crashes"])
    return crashed


def test_every_job_succeeds_while_servers_are_killed_again_and_again(
    storage_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(storage_url)
    runs = tmp_path / "runs.log"
    ids = _enqueue(app, runs)
    kills, elapsed = _storm(app, storage_url, tmp_path / "logs")

    counts = app.storage.count_by_state()
    assert counts["Succeeded"] == JOBS
    assert (counts["Processing"], counts["Enqueued"], counts["Failed"]) == (0, 0, 0)
    ran = read_runs(runs)
    assert set(ran) == set(range(JOBS))  # nothing lost
    duplicates = {ids[n] for n, times in ran.items() if times > 1}
    crashed = _crash_counts(app)
    # A job runs twice only if a kill caught it in flight: its server died and a peer's
    # watchdog requeued it (which is what increments `crashes`). At most WORKERS per kill.
    assert duplicates <= set(crashed)
    assert len(crashed) <= kills * WORKERS
    for log in (tmp_path / "logs").iterdir():
        assert "Traceback" not in log.read_text(), log.name
    assert kills >= (10 if FULL else 3)
    figures.add(
        "kill storm",
        storage_kind(storage_url),
        jobs=JOBS,
        servers=SERVERS,
        kills=kills,
        seconds=round(elapsed, 1),
        requeued_after_kill=len(crashed),
        ran_more_than_once=len(duplicates),
        extra_runs=sum(ran.values()) - JOBS,
        lost=0,
    )
    app.close()
