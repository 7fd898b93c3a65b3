"""Events counted outside the plain enqueue-and-run path: recurring jobs and async jobs."""

from __future__ import annotations

import pytest

import stoker
from stoker.metrics import instrument
from tests.metrics import metrics_jobs
from tests.metrics.helpers import parse, value
from tests.polling import wait_for

OK = "tests.metrics.metrics_jobs:ok"
LATER = "tests.metrics.metrics_jobs:later"


@pytest.mark.slow
def test_recurring_occurrences_count_as_created_where_they_are_made(app: stoker.App) -> None:
    metrics = instrument(app)
    app.recurring.add_or_update("tick", "* * * * * *", metrics_jobs.ok, 1)
    app.recurring.trigger("tick")
    with app.server(workers=1, scheduler_interval=0.05, poll_interval=0.05):
        wait_for(lambda: app.storage.count_by_state().get("Succeeded", 0) >= 3, what="3 runs")
        app.recurring.remove("tick")
    made = sum(app.storage.count_by_state().values())
    samples = parse(metrics.exposition().decode())
    assert value(samples, "stoker_jobs_created_total", function=OK, queue="default") == made


@pytest.mark.slow
def test_an_async_job_is_started_timed_and_finished(app: stoker.App) -> None:
    metrics = instrument(app)
    with app.server(workers=1, poll_interval=0.05):
        assert app.wait(app.enqueue(metrics_jobs.later, 7), timeout=30).result == 7
    samples = parse(metrics.exposition().decode())
    labels = {"function": LATER, "queue": "default"}
    assert value(samples, "stoker_jobs_started_total", **labels) == 1
    assert value(samples, "stoker_job_duration_seconds_count", **labels, outcome="Succeeded") == 1
    assert value(samples, "stoker_jobs_finished_total", **labels, state="Succeeded") == 1
