"""Recurring jobs with many schedulers racing: exactly one job per occurrence, across DST
changes, and after every server was down the misfire policy decides what runs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import stoker
from stoker.server.background import fire_due_recurring
from stoker.server.context import ServerContext
from stoker.testing.clock import FakeClock
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.servers import ServerProcess, cli_server, stop_all
from tests.reliability.support import (
    Figures,
    occurrences,
    pending,
    seconds,
    storage_kind,
)

SERVERS = 5
RUN_FOR = seconds(12, 60)


def _every_second(first: datetime, last: datetime) -> set[datetime]:
    return {first + timedelta(seconds=n) for n in range(int((last - first).total_seconds()) + 1)}


@pytest.mark.slow
@pytest.mark.timeout(RUN_FOR + 90)
def test_five_server_processes_create_exactly_one_job_per_occurrence(
    storage_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(storage_url)
    # misfire="all": a scheduler starved of CPU for a second still creates every occurrence,
    # so "exactly one job for every second" can be checked without gaps.
    app.with_options(misfire="all").recurring.add_or_update(
        "every-second", "* * * * * *", jobs.noop
    )
    servers: list[ServerProcess] = []
    try:
        servers = [cli_server(storage_url, tmp_path, workers=1) for _ in range(SERVERS)]
        _wait_until_all_registered(app, servers)
        time.sleep(RUN_FOR)
        app.recurring.pause("every-second")
    finally:
        codes = stop_all(servers)
    assert codes == [0] * SERVERS
    counts = occurrences(app, "every-second")
    assert len(counts) >= RUN_FOR - 2
    assert set(counts.values()) == {1}, {at: n for at, n in counts.items() if n > 1}
    assert set(counts) == _every_second(min(counts), max(counts))  # no gap
    figures.add(
        "recurring, 5 server processes",
        storage_kind(storage_url),
        seconds=RUN_FOR,
        occurrences=len(counts),
        jobs=sum(counts.values()),
        duplicates=0,
        missed=0,
    )
    app.close()


def _wait_until_all_registered(app: stoker.App, servers: list[ServerProcess]) -> None:
    """Each process registered at least once. (On a loaded machine a 1.5 s server timeout can
    briefly drop a late heartbeater, which re-registers: "all five at one instant" is flaky.)"""
    wanted = {server.pid for server in servers}
    seen: set[int] = set()

    def all_seen() -> bool:
        seen.update(record.pid for record in app.storage.list_servers())
        dead = [server.log() for server in servers if not server.alive()]
        assert not dead, f"a server process exited: {dead[0][-3000:]}"
        return wanted <= seen

    wait_for(all_seen, 60, "five servers")


def _schedulers(app: stoker.App) -> list[ServerContext]:
    """Servers that are never started: the test drives their recurring schedulers by hand."""
    return [app.server(workers=1).context for _ in range(SERVERS)]


def _race(schedulers: list[ServerContext]) -> None:
    """Every scheduler fires due recurring jobs at the same moment, in its own thread."""
    barrier = threading.Barrier(len(schedulers))
    errors: list[BaseException] = []

    def fire(server: ServerContext) -> None:
        barrier.wait()
        try:
            fire_due_recurring(server)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=fire, args=(server,)) for server in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


# (time zone, spring-forward day, fall-back day) with DST in both hemispheres
DST_ZONES = [
    ("Europe/Berlin", datetime(2036, 3, 30), datetime(2036, 10, 26)),
    ("America/New_York", datetime(2036, 3, 9), datetime(2036, 11, 2)),
    ("Australia/Sydney", datetime(2036, 10, 5), datetime(2036, 4, 6)),
]


@pytest.mark.parametrize(("zone", "spring", "fall"), DST_ZONES)
def test_racing_schedulers_run_each_occurrence_once_across_dst_changes(
    storage_url: str, zone: str, spring: datetime, fall: datetime
) -> None:
    tz = ZoneInfo(zone)
    clock = FakeClock(spring.replace(tzinfo=tz))
    app = stoker.App(storage_url, clock=clock)
    schedulers = _schedulers(app)
    results = {}
    for day in (spring, fall):
        clock.set(day.replace(tzinfo=tz) - timedelta(hours=1))  # 23:00 the evening before
        # The clock jumps by months (backwards in the southern hemisphere): define the jobs
        # afresh, since re-adding an unchanged schedule keeps its stored next run.
        app.recurring.remove("nightly")
        app.recurring.remove("hourly")
        app.recurring.add_or_update("nightly", "30 2 * * *", jobs.noop, tz=zone)
        app.recurring.add_or_update("hourly", "0 * * * *", jobs.noop, tz=zone)
        for _ in range(27 * 4):  # the whole local day (and a bit), 15 minutes at a time
            clock.advance(timedelta(minutes=15))
            _race(schedulers)
        results[day] = (occurrences(app, "nightly"), occurrences(app, "hourly"))
        for job in app.storage.list_jobs("Enqueued", limit=1000):
            app.delete(job.id)
    (spring_nightly, spring_hourly), (fall_nightly, fall_hourly) = results.values()
    # 02:30 does not exist on the spring day: it runs once, right after the jump.
    assert set(spring_nightly.values()) == set(fall_nightly.values()) == {1}
    assert _on_local_day(spring_nightly, spring, tz) == 1
    assert _on_local_day(fall_nightly, fall, tz) == 1  # 02:30 happens twice: runs once
    # An hourly job runs every real hour, each exactly once: 23 on the short local day, 25 on
    # the long one (02:00 happens twice, and both are distinct instants).
    assert set(spring_hourly.values()) == {1}
    assert set(fall_hourly.values()) == {1}
    assert _on_local_day(spring_hourly, spring, tz) == 23
    assert _on_local_day(fall_hourly, fall, tz) == 25
    app.close()


def _on_local_day(counts: Counter[datetime], day: datetime, tz: ZoneInfo) -> int:
    return sum(1 for at in counts if at.astimezone(tz).date() == day.date())


@pytest.mark.parametrize(("misfire", "expected"), [("once", 1), ("all", 6), ("skip", 0)])
def test_after_all_servers_were_down_the_misfire_policy_decides(
    storage_url: str, misfire: str, expected: int
) -> None:
    clock = FakeClock(datetime(2036, 5, 4, 9, 0, 30, tzinfo=UTC))
    app = stoker.App(storage_url, clock=clock)
    app.with_options(misfire=misfire).recurring.add_or_update(  # type: ignore[arg-type]
        "hourly", "0 * * * *", jobs.noop
    )
    clock.advance(timedelta(hours=6, minutes=30))  # every server was down for 6 occurrences
    schedulers = _schedulers(app)
    for _ in range(3):  # five schedulers come back at once and race, again and again
        _race(schedulers)
        clock.advance(timedelta(seconds=1))
    assert sum(occurrences(app, "hourly").values()) == expected
    assert pending(app) == expected
    record = app.recurring.get("hourly")
    assert record is not None
    assert record.next_run == datetime(2036, 5, 4, 16, 0, tzinfo=UTC)
    app.close()
