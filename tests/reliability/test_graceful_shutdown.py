"""SIGTERM lets running jobs finish within the shutdown timeout or returns them to their queue;
a second SIGTERM/SIGINT stops at once, and the jobs it interrupted run again elsewhere."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

import stoker
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.servers import ServerProcess, cli_server
from tests.reliability.support import Figures, read_runs, storage_kind

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
WORKERS = 3


def _running(app: stoker.App, server: ServerProcess, count: int) -> None:
    wait_for(
        lambda: app.storage.count_by_state()["Processing"] == count,
        30,
        f"{count} jobs running on server {server.pid}",
    )


def _states(app: stoker.App, ids: list[str]) -> list[str]:
    return [app.get_job(job_id).state for job_id in ids]  # type: ignore[union-attr]


def _requeued_by_shutdown(app: stoker.App, job_id: str) -> bool:
    info = app.get_job(job_id)
    assert info is not None
    reasons = [entry.reason or "" for entry in info.history]
    # Returned by the server itself (not by a watchdog after a crash): no crash is counted.
    return any("shut down" in reason for reason in reasons) and not info.params.get("crashes")


def test_sigterm_lets_running_jobs_finish_and_starts_no_new_ones(
    storage_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(storage_url)
    runs = tmp_path / "runs.log"
    server = cli_server(storage_url, tmp_path, "--shutdown-timeout", "10", workers=WORKERS)
    try:
        running = [app.enqueue(jobs.mark, str(runs), n, 1.5) for n in range(WORKERS)]
        _running(app, server, WORKERS)
        waiting = [app.enqueue(jobs.mark, str(runs), n, 0) for n in range(WORKERS, 2 * WORKERS)]
        began = time.monotonic()
        server.send(signal.SIGTERM)
        assert server.wait(15) == 0
        took = time.monotonic() - began
    finally:
        server.stop()
    assert _states(app, running) == ["Succeeded"] * WORKERS
    assert _states(app, waiting) == ["Enqueued"] * WORKERS  # left for the next server
    assert read_runs(runs) == dict.fromkeys(range(WORKERS), 1)
    assert took < 10  # it waited for the jobs, not for the whole shutdown timeout
    assert app.storage.list_servers() == []
    figures.add(
        "SIGTERM, jobs finish in time",
        storage_kind(storage_url),
        in_flight=WORKERS,
        finished=WORKERS,
        stop_seconds=round(took, 2),
    )
    app.close()


def test_sigterm_returns_jobs_that_outlast_the_shutdown_timeout(
    storage_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(storage_url)
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    server = cli_server(storage_url, tmp_path, "--shutdown-timeout", "1", workers=WORKERS)
    try:
        ids = _start_blocked_jobs(app, server, runs, release)
        began = time.monotonic()
        server.send(signal.SIGTERM)
        assert server.wait(15) == 0
        took = time.monotonic() - began
    finally:
        server.stop()
    assert 1 <= took < 5
    assert _states(app, ids) == ["Enqueued"] * WORKERS
    assert all(_requeued_by_shutdown(app, job_id) for job_id in ids)
    _successor_finishes(app, storage_url, tmp_path, ids, release)
    assert read_runs(runs) == dict.fromkeys(range(WORKERS), 1)
    figures.add(
        "SIGTERM, jobs outlast the timeout",
        storage_kind(storage_url),
        in_flight=WORKERS,
        returned=WORKERS,
        stop_seconds=round(took, 2),
    )
    app.close()


def test_second_signal_stops_at_once_and_the_jobs_run_again(
    storage_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(storage_url)
    runs, release = tmp_path / "runs.log", tmp_path / "release"
    server = cli_server(storage_url, tmp_path, "--shutdown-timeout", "60", workers=WORKERS)
    try:
        ids = _start_blocked_jobs(app, server, runs, release)
        server.send(signal.SIGTERM)  # graceful: would wait up to 60 s for the jobs
        time.sleep(0.5)
        began = time.monotonic()
        server.send(signal.SIGINT)  # Ctrl+C after SIGTERM: stop now
        assert server.wait(15) == 0
        took = time.monotonic() - began
    finally:
        server.stop()
    assert took < 3
    assert _states(app, ids) == ["Enqueued"] * WORKERS
    assert all(_requeued_by_shutdown(app, job_id) for job_id in ids)
    assert app.storage.list_servers() == []
    _successor_finishes(app, storage_url, tmp_path, ids, release)
    assert read_runs(runs) == dict.fromkeys(range(WORKERS), 1)
    figures.add(
        "second signal stops at once",
        storage_kind(storage_url),
        in_flight=WORKERS,
        recovered=WORKERS,
        stop_seconds=round(took, 2),
    )
    app.close()


def _start_blocked_jobs(
    app: stoker.App, server: ServerProcess, runs: Path, release: Path
) -> list[str]:
    """One job per worker, each running until `release` exists; returns once all run."""
    ids = [
        app.enqueue(jobs.mark_when_released, str(runs), n, str(release), 60) for n in range(WORKERS)
    ]
    _running(app, server, WORKERS)
    return ids


def _successor_finishes(
    app: stoker.App, storage_url: str, tmp_path: Path, ids: list[str], release: Path
) -> None:
    """Release the jobs; a new server runs every one of them to Succeeded."""
    release.touch()
    successor = cli_server(storage_url, tmp_path, workers=WORKERS)
    try:
        wait_for(lambda: _states(app, ids) == ["Succeeded"] * WORKERS, 30, "the successor")
    finally:
        assert successor.stop() == 0
