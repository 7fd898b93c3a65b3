"""A known workload on each storage, then the dashboard's /metrics shows exactly its numbers."""

from __future__ import annotations

import warnings

import pytest

import stoker
from stoker.metrics import instrument
from tests.metrics import metrics_jobs
from tests.metrics.helpers import Samples, parse, value
from tests.polling import wait_for

warnings.filterwarnings("ignore", message=r".*httpx.*starlette\.testclient", category=Warning)
from starlette.testclient import TestClient  # noqa: E402

OK = "tests.metrics.metrics_jobs:ok"
BOOM = "tests.metrics.metrics_jobs:boom"
HOLD = "tests.metrics.metrics_jobs:hold"


def run_workload(app: stoker.App) -> None:
    """4 jobs succeed on two queues (one enqueued twice under one idempotency key), one fails
    twice (one retry), one is deleted before it runs and one waits on a queue nobody serves."""
    for n in range(2):
        app.enqueue(metrics_jobs.ok, n)
    keyed = app.with_options(idempotency_key="once")
    assert keyed.enqueue(metrics_jobs.ok, 9) == keyed.enqueue(metrics_jobs.ok, 9)
    app.with_options(queue="mail").enqueue(metrics_jobs.ok, 3)
    failing = app.with_options(retries=1, retry_delays=[0]).enqueue(metrics_jobs.boom)
    parked = app.with_options(queue="parked")
    assert app.delete(parked.enqueue(metrics_jobs.ok, 4))
    parked.enqueue(metrics_jobs.ok, 5)
    app.wait(failing, timeout=30)


def expected_events(samples: Samples) -> None:
    counts = {
        ("stoker_jobs_created_total", OK, "default"): 3,
        ("stoker_jobs_created_total", OK, "mail"): 1,
        ("stoker_jobs_created_total", BOOM, "default"): 1,
        ("stoker_jobs_created_total", OK, "parked"): 2,
        ("stoker_jobs_started_total", OK, "default"): 3,
        ("stoker_jobs_started_total", OK, "mail"): 1,
        ("stoker_jobs_started_total", BOOM, "default"): 2,
        ("stoker_job_retries_total", BOOM, "default"): 1,
        ("stoker_job_latency_seconds_count", OK, "default"): 3,
        ("stoker_job_latency_seconds_count", BOOM, "default"): 2,
    }
    for (name, function, queue), count in counts.items():
        assert value(samples, name, function=function, queue=queue) == count, name
    finished = {(OK, "default", "Succeeded"): 3, (OK, "mail", "Succeeded"): 1}
    finished |= {(BOOM, "default", "Failed"): 1, (OK, "parked", "Deleted"): 1}
    for (function, queue, state), count in finished.items():
        labels = {"function": function, "queue": queue, "state": state}
        assert value(samples, "stoker_jobs_finished_total", **labels) == count, labels
    assert value(samples, "stoker_jobs_started_total", function=OK, queue="parked") is None
    runs = {(OK, "default", "Succeeded"): 3, (BOOM, "default", "Failed"): 2}
    for (function, queue, outcome), count in runs.items():
        labels = {"function": function, "queue": queue, "outcome": outcome}
        assert value(samples, "stoker_job_duration_seconds_count", **labels) == count, labels


def expected_gauges(samples: Samples) -> None:
    states = {"Enqueued": 1, "Succeeded": 4, "Failed": 1, "Deleted": 1, "Scheduled": 0}
    states |= {"Processing": 0, "Awaiting": 0}
    for state, count in states.items():
        assert value(samples, "stoker_jobs", state=state) == count, state
    for queue, length in {"parked": 1, "default": 0, "mail": 0}.items():
        assert value(samples, "stoker_queue_length", queue=queue) == length, queue
    assert value(samples, "stoker_servers") == 1
    assert value(samples, "stoker_workers") == 2
    assert value(samples, "stoker_busy_workers") == 0


@pytest.mark.slow
def test_the_dashboard_metrics_show_a_known_workload(app: stoker.App) -> None:
    instrument(app)  # before the server: it keeps the filters it was made with
    dashboard = TestClient(app.dashboard(), base_url="http://127.0.0.1", client=("127.0.0.1", 5))
    with app.server(workers=2, queues=["default", "mail"], poll_interval=0.05):
        run_workload(app)
        wait_for(lambda: app.storage.count_by_state().get("Succeeded") == 4, what="4 succeeded")
        reply = dashboard.get("/metrics")
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
        expected_gauges(parse(reply.text))
    # Once the server stopped: a worker counts a finished job just after storing it, so a
    # scrape at the moment a waiter sees the job finished may come a moment too early.
    expected_events(parse(dashboard.get("/metrics").text))


@pytest.mark.slow
def test_busy_workers_and_processing_jobs_are_read_when_scraped(app: stoker.App) -> None:
    metrics = instrument(app, cache_seconds=0)
    metrics_jobs.RELEASE.clear()
    try:
        with app.server(workers=3, poll_interval=0.05):
            job_id = app.enqueue(metrics_jobs.hold)

            def busy() -> bool:
                samples = parse(metrics.exposition().decode())
                return value(samples, "stoker_busy_workers") == 1 and (
                    value(samples, "stoker_jobs", state="Processing") == 1
                )

            wait_for(busy, what="one busy worker")
            samples = parse(metrics.exposition().decode())
            assert value(samples, "stoker_workers") == 3
            started = value(samples, "stoker_jobs_started_total", function=HOLD, queue="default")
            assert started == 1
            metrics_jobs.RELEASE.set()
            app.wait(job_id, timeout=30)
            wait_for(
                lambda: value(parse(metrics.exposition().decode()), "stoker_busy_workers") == 0,
                what="no busy worker",
            )
    finally:
        metrics_jobs.RELEASE.set()
