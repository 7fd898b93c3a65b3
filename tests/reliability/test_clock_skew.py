"""Servers whose clocks disagree by a few seconds: recurring jobs still fire once per
occurrence and delayed jobs are never lost (each server's own clock decides when a job is due)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

import stoker
from stoker.server import Server
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.support import (
    Figures,
    SkewedClock,
    occurrences,
    pending,
    read_runs,
    seconds,
    storage_kind,
)

SKEWS = (-3.0, 0.0, 3.0)
OPTIONS = {
    "workers": 2,
    "poll_interval": 0.2,
    "scheduler_interval": 0.1,
    "heartbeat_interval": 0.5,
    "server_timeout": 10.0,
}
DELAYED = 30
RUN_FOR = seconds(6, 30)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(RUN_FOR + 60)]


@pytest.fixture
def skewed_servers(storage_url: str) -> Iterator[list[Server]]:
    with ExitStack() as stack:
        servers = []
        for skew in SKEWS:
            app = stoker.App(storage_url, clock=SkewedClock(skew))
            stack.callback(app.close)
            servers.append(stack.enter_context(app.server(**OPTIONS)))
        yield servers


def test_skewed_servers_fire_each_occurrence_once_and_run_every_delayed_job(
    storage_url: str, skewed_servers: list[Server], tmp_path: Path, figures: Figures
) -> None:
    client = stoker.App(storage_url)  # the client's clock is right
    runs = tmp_path / "runs.log"
    client.with_options(misfire="all").recurring.add_or_update("tick", "* * * * * *", jobs.noop)
    due = {}
    for n in range(DELAYED):
        delay = 1 + n % 6
        due[n] = time.time() + delay
        client.enqueue_in(delay, jobs.mark_start, str(runs), n)
    time.sleep(RUN_FOR)
    client.recurring.pause("tick")
    wait_for(lambda: pending(client) == 0, 20, "every job to finish")

    counts = occurrences(client, "tick")
    assert len(counts) >= RUN_FOR - 2
    assert set(counts.values()) == {1}
    span = (max(counts) - min(counts)).total_seconds()
    assert len(counts) == int(span) + 1  # no gap either
    assert read_runs(runs) == dict.fromkeys(range(DELAYED), 1)  # none lost, none twice
    started = {
        int(n): float(at) for n, at in (line.split() for line in runs.read_text().splitlines())
    }
    early = max(due[n] - started[n] for n in due)
    # The fast server (+3 s) enqueues a delayed job when ITS clock says it is due: up to
    # 3 s early by the client's clock. That is the documented consequence of "each
    # server's clock decides", and bounded by the skew.
    assert early <= max(SKEWS) + 0.5
    figures.add(
        "clock skew -3/0/+3 s",
        storage_kind(storage_url),
        occurrences=len(counts),
        duplicates=0,
        delayed_jobs=DELAYED,
        lost=0,
        max_early_start_s=round(early, 2),
    )
    client.close()


def test_a_server_whose_clock_runs_ahead_does_not_declare_live_peers_dead(
    postgres_url: str, tmp_path: Path
) -> None:
    # On PostgreSQL only: the flaw is in the server's watchdog, not in a storage, and clocks
    # differ between hosts, which share PostgreSQL or Redis (never one SQLite file).
    storage_url = postgres_url
    # Scaled down like every timing here: timeout 2 s, skew 5 s (defaults: 300 s, > 270 s).
    timing = {"heartbeat_interval": 0.3, "server_timeout": 2.0, "poll_interval": 0.2}
    timing["max_crashes"] = 1  # fail fast: one false "crash" is enough to show the problem
    runs = tmp_path / "runs.log"
    right = stoker.App(storage_url)
    ahead = stoker.App(storage_url, clock=SkewedClock(5.0))
    job_id = right.enqueue(jobs.mark, str(runs), 1, 3.0)
    # The fast server serves another queue: only its watchdog matters here.
    with right.server(workers=1, **timing), ahead.server(workers=1, queues=["x"], **timing):
        wait_for(lambda: _final(right, job_id), 30, "the job to end")
    info = right.get_job(job_id)
    assert info is not None
    # Before the watchdog judged silence by its own clock, the job was requeued after 2 s as
    # if its server had died, then failed with "Gave up after 1 server crashes".
    assert info.state == "Succeeded"
    assert "crashes" not in info.params
    assert read_runs(runs) == {1: 1}
    right.close()
    ahead.close()


def _final(app: stoker.App, job_id: str) -> bool:
    return app.get_job(job_id).state in ("Succeeded", "Failed")  # type: ignore[union-attr]
