"""Statistics counters: folded by a server's workers and written in bulk, on every storage."""

from __future__ import annotations

import stoker
from stoker.core.filters import stats_keys
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state


def succeeded_total(app: stoker.App) -> int:
    return app.storage.get_counters(["stats:succeeded"])["stats:succeeded"]


def test_a_servers_counts_wait_in_memory_until_its_next_write_or_its_stop(
    app: stoker.App,
) -> None:
    with app.server(workers=2, statistics_interval=3600, **FAST):
        ids = app.enqueue_many(jobs.add, [(n, n) for n in range(5)])
        for job_id in ids:
            wait_for_state(app, job_id, "Succeeded")
        assert succeeded_total(app) == 0  # folded: its first write is an hour away
    assert succeeded_total(app) == 5  # written as the server stopped


def test_a_running_servers_counts_are_written_every_statistics_interval(
    app: stoker.App,
) -> None:
    with app.server(workers=2, statistics_interval=0.1, **FAST):
        failing = app.with_options(retries=0).enqueue(jobs.fail, "no")
        ids = app.enqueue_many(jobs.add, [(n, n) for n in range(4)])
        wait_for(lambda: succeeded_total(app) == 4, 10, "4 successes counted")
        wait_for_state(app, failing, "Failed")
        moment = app.get_job(ids[0]).history[-1].created_at  # type: ignore[union-attr]
        hourly, daily = stats_keys("succeeded", moment)[1:]
        wait_for(
            lambda: app.storage.get_counters(["stats:failed"])["stats:failed"] == 1,
            10,
            "the failure counted",
        )
        assert app.storage.get_counters([hourly, daily]) == {hourly: 4, daily: 4}


def test_a_delete_by_the_client_is_counted_in_its_own_transaction(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1, 2)
    assert app.delete(job_id)
    assert app.storage.get_counters(["stats:deleted"]) == {"stats:deleted": 1}
