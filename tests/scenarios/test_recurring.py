"""Recurring jobs on real servers: exactly one job per occurrence, DST, misfires, pause."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import stoker
from stoker.server.background import fire_due_recurring
from stoker.server.context import ServerContext
from stoker.testing.clock import FakeClock
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST
from tests.scenarios.processes import start_server, stop


def _occurrences(app: stoker.App) -> Counter[str]:
    """How many jobs were created for each occurrence (the reason names the occurrence)."""
    counts: Counter[str] = Counter()
    for state in ("Enqueued", "Processing", "Succeeded"):
        for record in app.storage.list_jobs(state, limit=1000):
            if record.params.get("recurring_id") == "every-second":
                counts[record.state.reason or ""] += 1
    return counts


def _history_reasons(app: stoker.App) -> Counter[str]:
    counts: Counter[str] = Counter()
    for record in app.storage.list_jobs("Succeeded", limit=1000):
        details = app.storage.job_details(record.id)
        assert details is not None
        counts[details.history[0].reason or ""] += 1
    return counts


def test_three_servers_create_exactly_one_job_per_occurrence(storage_url: str) -> None:
    apps = [stoker.App(storage_url) for _ in range(3)]
    apps[0].recurring.add_or_update("every-second", "* * * * * *", jobs.add, 1, 2)
    servers = [app.server(workers=2, **FAST).start() for app in apps]
    try:
        time.sleep(4.5)
    finally:
        for server in servers:
            server.stop()
    reasons = _history_reasons(apps[0])
    assert 3 <= len(reasons) <= 6  # about one occurrence per second
    assert set(reasons.values()) == {1}, reasons  # never twice
    for app in apps:
        app.close()


@pytest.mark.slow
def test_three_server_processes_create_exactly_one_job_per_occurrence(
    app: stoker.App, storage_url: str
) -> None:
    app.recurring.add_or_update("every-second", "* * * * * *", jobs.add, 1, 2)
    processes = [start_server(storage_url, workers=2) for _ in range(3)]
    try:
        wait_for(lambda: len(app.storage.list_servers()) == 3, 20, "three servers")
        time.sleep(4)
    finally:
        codes = [stop(process) for process in processes]
    assert codes == [0, 0, 0]
    app.recurring.remove("every-second")
    reasons = _history_reasons(app)
    assert len(reasons) >= 3
    assert set(reasons.values()) == {1}, reasons


def _scheduler(app: stoker.App) -> ServerContext:
    """A server that is never started: the test drives its recurring scheduler by hand."""
    return app.server(workers=1).context


def test_daily_job_runs_once_on_both_dst_changes(storage_url: str) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    clock = FakeClock(datetime(2036, 3, 30, 0, 0, tzinfo=berlin))  # spring forward at 02:00
    app = stoker.App(storage_url, clock=clock)
    app.recurring.add_or_update("nightly", "30 2 * * *", jobs.add, 1, 1, tz="Europe/Berlin")
    scheduler = _scheduler(app)
    for _ in range(24 * 4):  # one day in 15-minute steps
        clock.advance(timedelta(minutes=15))
        fire_due_recurring(scheduler)
    spring = app.storage.list_jobs("Enqueued", limit=100)
    assert len(spring) == 1  # 02:30 did not exist: it ran once, at 03:00 local
    assert spring[0].created_at.astimezone(berlin).hour == 3
    clock.set(datetime(2036, 10, 26, 0, 0, tzinfo=berlin))  # fall back: 02:30 happens twice
    # Re-adding an unchanged schedule keeps its stored next run (so a deploy never skips an
    # occurrence); after jumping the clock by months, define the job afresh instead.
    app.recurring.remove("nightly")
    app.recurring.add_or_update("nightly", "30 2 * * *", jobs.add, 1, 1, tz="Europe/Berlin")
    for _ in range(24 * 4):
        clock.advance(timedelta(minutes=15))
        fire_due_recurring(scheduler)
    assert len(app.storage.list_jobs("Enqueued", limit=100)) == 2  # one more, not two
    app.close()


@pytest.mark.parametrize(("misfire", "expected"), [("once", 1), ("all", 6), ("skip", 0)])
def test_misfire_policy_decides_what_runs_after_downtime(
    storage_url: str, misfire: str, expected: int
) -> None:
    clock = FakeClock(datetime(2036, 5, 4, 9, 0, 30, tzinfo=UTC))
    app = stoker.App(storage_url, clock=clock)
    app.with_options(misfire=misfire).recurring.add_or_update(  # type: ignore[arg-type]
        "hourly", "0 * * * *", jobs.add, 2, 2
    )
    clock.advance(timedelta(hours=6, minutes=30))  # every server was down for six occurrences
    fire_due_recurring(_scheduler(app))
    assert len(app.storage.list_jobs("Enqueued", limit=100)) == expected
    record = app.recurring.get("hourly")
    assert record is not None
    assert record.next_run == datetime(2036, 5, 4, 16, 0, tzinfo=UTC)
    app.close()


def test_paused_job_creates_nothing_and_trigger_still_works(storage_url: str) -> None:
    clock = FakeClock(datetime(2036, 5, 4, 9, 0, 30, tzinfo=UTC))
    app = stoker.App(storage_url, clock=clock)
    app.recurring.add_or_update("minutely", "* * * * *", jobs.add, 2, 2)
    assert app.recurring.pause("minutely")
    clock.advance(timedelta(minutes=10))
    fire_due_recurring(_scheduler(app))
    assert app.storage.count_by_state()["Enqueued"] == 0
    job_id = app.recurring.trigger("minutely")
    assert app.get_job(job_id).params["recurring_id"] == "minutely"  # type: ignore[union-attr]
    assert app.recurring.resume("minutely")
    clock.advance(timedelta(minutes=1))
    fire_due_recurring(_scheduler(app))
    assert app.storage.count_by_state()["Enqueued"] == 2
    app.close()


def test_recurring_job_runs_on_an_embedded_server(app: stoker.App) -> None:
    app.recurring.add_or_update("every-second", "* * * * * *", jobs.add, 1, 2)
    with app.server(workers=1, **FAST):
        wait_for(lambda: app.storage.count_by_state()["Succeeded"] >= 2, 6, "two runs")
    record = app.recurring.get("every-second")
    assert record is not None
    assert record.last_job_id is not None
    assert record.last_run is not None
