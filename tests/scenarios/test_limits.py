"""Concurrency and rate limits hold across servers, survive a killed server and say why a job
waits."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

import stoker
from stoker.core import reasons
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, state_of, wait_for_state
from tests.scenarios.processes import start_server, stop

pytestmark = pytest.mark.slow


def runs(marker_dir: Path) -> list[tuple[str, str, float]]:
    """(event, job name, time) of every line of runs.log, in the order they happened."""
    lines = (marker_dir / "runs.log").read_text().splitlines()
    return [(event, name, float(at)) for event, name, at in (line.split() for line in lines)]


def most_at_once(events: list[tuple[str, str, float]], prefix: str = "") -> int:
    """The largest number of jobs (named with `prefix`) running at the same time."""
    running = peak = 0
    for event, name, _ in events:
        if name.startswith(prefix):
            running += 1 if event == "start" else -1
            peak = max(peak, running)
    return peak


def test_a_function_limit_holds_across_servers_and_every_job_runs(
    app: stoker.App, storage_url: str, tmp_path: Path
) -> None:
    job_ids = [app.enqueue(jobs.two_at_a_time, str(tmp_path), f"job-{n}", 0.3) for n in range(8)]
    other = start_server(storage_url, workers=4)
    try:
        with app.server(workers=4, **FAST):
            for job_id in job_ids:
                wait_for_state(app, job_id, "Succeeded", timeout=30)
    finally:
        stop(other)
    events = runs(tmp_path)
    assert most_at_once(events) == 2
    assert len(events) == 16
    waited = [app.get_job(job_id) for job_id in job_ids]
    assert any(
        entry.reason
        == reasons.waiting_for_slot(jobs.two_at_a_time.__module__ + ":two_at_a_time", 2)
        for info in waited
        if info is not None
        for entry in info.history
    )


def test_a_key_limit_is_a_mutex_per_key(app: stoker.App, tmp_path: Path) -> None:
    job_ids = []
    for tenant in ("a", "b"):
        client = app.with_options(concurrency_key=f"tenant:{tenant}", concurrency=1)
        job_ids += [
            client.enqueue(jobs.log_run, str(tmp_path), f"{tenant}{n}", 0.2) for n in range(4)
        ]
    with app.server(workers=6, **FAST):
        for job_id in job_ids:
            wait_for_state(app, job_id, "Succeeded", timeout=30)
    events = runs(tmp_path)
    assert (most_at_once(events, "a"), most_at_once(events, "b")) == (1, 1)
    assert most_at_once(events) == 2  # the two tenants ran side by side


def test_a_slot_held_by_a_killed_server_comes_back(
    app: stoker.App, storage_url: str, tmp_path: Path
) -> None:
    client = app.with_options(concurrency_key="export", concurrency=1)
    holder = client.enqueue(jobs.log_run, str(tmp_path), "holder", 1.0)
    victim = start_server(storage_url, workers=2)
    try:
        wait_for(lambda: state_of(app, holder) == "Processing", 15, "the holder to run")
        waiter = client.enqueue(jobs.log_run, str(tmp_path), "waiter", 0.0)
        wait_for(lambda: state_of(app, waiter) == "Awaiting", 15, "the waiter to be parked")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        stop(victim)
    with app.server(workers=2, **FAST):  # its watchdog declares the victim dead after 1.5 s
        wait_for_state(app, holder, "Succeeded", timeout=30)
        info = wait_for_state(app, waiter, "Succeeded", timeout=30)
    assert reasons.slot_freed("export") in [entry.reason for entry in info.history]
    events = [(event, name) for event, name, _ in runs(tmp_path)]
    # The killed run started and never ended; the rerun ended before the waiter started.
    assert events[-4:] == [
        ("start", "holder"),
        ("end", "holder"),
        ("start", "waiter"),
        ("end", "waiter"),
    ]


def test_rate_limited_jobs_start_at_their_turns(app: stoker.App, tmp_path: Path) -> None:
    job_ids = [app.enqueue(jobs.two_per_second, str(tmp_path), f"job-{n}") for n in range(6)]
    with app.server(workers=4, **FAST):
        for job_id in job_ids:
            wait_for_state(app, job_id, "Succeeded", timeout=30)
    starts = sorted(at for event, _, at in runs(tmp_path) if event == "start")
    # Two start at once, two a second later, two a second after that (never sooner): no
    # three starts within a second (a little slack for when each job wrote its line).
    assert starts[-1] - starts[0] >= 1.95
    assert all(later - first >= 0.95 for first, later in zip(starts, starts[2:], strict=False))
    deferred = [app.get_job(job_id) for job_id in job_ids]
    put_off = [
        entry
        for info in deferred
        if info is not None
        for entry in info.history
        if entry.name == "Scheduled"
    ]
    assert len(put_off) >= 4  # a job back late may be put off once more (see guarantees)
    key = jobs.two_per_second.__module__ + ":two_per_second"
    assert {entry.reason for entry in put_off} == {reasons.rate_limited(key, "2/s")}
