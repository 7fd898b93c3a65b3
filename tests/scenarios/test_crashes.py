"""Servers die (kill -9, a job that kills its process): no job is lost, none runs forever."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import stoker
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state
from tests.scenarios.processes import start_server, stop

pytestmark = pytest.mark.slow


def test_job_killed_mid_run_is_run_again_by_another_server(
    app: stoker.App, storage_url: str, tmp_path: Path
) -> None:
    job_ids = [app.enqueue(jobs.record_run, str(tmp_path), f"job-{n}", 1.0) for n in range(6)]
    victim = start_server(storage_url, workers=3)
    try:
        wait_for(lambda: app.storage.count_by_state()["Processing"] == 3, 15, "3 jobs in flight")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        stop(victim)
    in_flight = [j for j in job_ids if app.get_job(j).state == "Processing"]  # type: ignore[union-attr]
    assert len(in_flight) == 3
    with app.server(workers=3, **FAST):  # its watchdog declares the victim dead after 1.5 s
        for job_id in job_ids:
            wait_for_state(app, job_id, "Succeeded", timeout=20)
    for job_id in in_flight:
        info = app.get_job(job_id)
        assert info is not None
        assert info.params["crashes"] == 1
        reasons = [entry.reason or "" for entry in info.history]
        assert any("stopped responding" in reason for reason in reasons)
        # Jobs with a crash on record run one at a time; one fetched while another runs alone
        # goes back to its queue, and says so.
        others = [r for r in reasons if r.startswith("Another job that crashed")]
        assert len(others) <= len(in_flight)
    assert app.storage.count_by_state()["Processing"] == 0


def test_job_that_kills_its_process_is_failed_after_max_crashes(
    app: stoker.App, storage_url: str
) -> None:
    job_id = app.enqueue(jobs.crash_process)
    for _ in range(3):  # each server process dies running it; a peer requeues it
        server = start_server(storage_url, "--server-timeout", "1.0", workers=1)
        try:
            assert server.wait(20) == 13
        finally:
            stop(server)
        # The peer serves another queue: it only requeues (running the job would kill pytest).
        with app.server(workers=1, queues=["elsewhere"], **{**FAST, "server_timeout": 1.0}) as peer:
            wait_for(
                lambda: app.get_job(job_id).state != "Processing",  # type: ignore[union-attr]
                10,
                "the watchdog to requeue the job",
            )
            peer.stop(timeout=0)
    with app.server(workers=1, **FAST):  # fails it at fetch time, without running it
        info = wait_for_state(app, job_id, "Failed")
    assert info.exception is not None
    assert info.exception.type == "stoker.errors.ServerCrashedError"
    assert info.params["crashes"] == 3


def test_sigterm_stops_a_server_process_gracefully(app: stoker.App, storage_url: str) -> None:
    server = start_server(storage_url, workers=2)
    try:
        job_id = app.enqueue(jobs.sleep_for, 0.5)
        wait_for_state(app, job_id, "Processing", timeout=15)
        server.send_signal(signal.SIGTERM)
        assert server.wait(15) == 0
    finally:
        stop(server)
    assert app.get_job(job_id).state == "Succeeded"  # type: ignore[union-attr]
    assert app.storage.list_servers() == []
