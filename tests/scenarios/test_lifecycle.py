"""A real embedded server runs every kind of job on every storage, keeping the whole history."""

from __future__ import annotations

from datetime import timedelta

import stoker
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state


def test_fire_and_forget_job_succeeds_with_its_result_and_history(app: stoker.App) -> None:
    with app.server(workers=2, **FAST):
        job_id = app.enqueue(jobs.add, 2, 3)
        info = wait_for_state(app, job_id, "Succeeded")
    assert info.result == 5
    assert [entry.name for entry in info.history] == ["Enqueued", "Processing", "Succeeded"]
    assert info.history[-1].data["duration_ms"] >= 0
    assert info.expire_at is not None  # Succeeded jobs expire after the retention period


def test_delayed_job_waits_in_scheduled_then_runs(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.enqueue_in(timedelta(seconds=0.7), jobs.add, 1, 1)
        assert app.get_job(job_id).state == "Scheduled"  # type: ignore[union-attr]
        info = wait_for_state(app, job_id, "Succeeded")
    names = [entry.name for entry in info.history]
    assert names == ["Scheduled", "Enqueued", "Processing", "Succeeded"]
    assert info.history[2].created_at - info.history[0].created_at >= timedelta(seconds=0.7)


def test_retries_end_in_failed_with_every_attempt_in_history(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.with_options(retries=2, retry_delays=[0, 0]).enqueue(jobs.fail, "no luck")
        info = wait_for_state(app, job_id, "Failed")
    names = [entry.name for entry in info.history]
    assert names == [
        "Enqueued", "Processing", "Scheduled",
        "Enqueued", "Processing", "Scheduled",
        "Enqueued", "Processing", "Failed",
    ]  # fmt: skip
    retries = [entry for entry in info.history if entry.name == "Scheduled"]
    assert [entry.data["retry_attempt"] for entry in retries] == [1, 2]
    assert all(entry.data["message"] == "no luck" for entry in retries)
    assert retries[0].reason == "Retry attempt 1 of 2: ValueError: no luck"
    assert info.exception is not None
    assert info.exception.type == "ValueError"
    assert "no luck" in info.exception.traceback
    assert info.retry_count == 2


def test_continuation_runs_after_its_parent_succeeded(app: stoker.App) -> None:
    with app.server(workers=2, **FAST):
        parent = app.enqueue(jobs.sleep_for, 0.3)
        child = app.continue_with(parent, jobs.add, 10, 20)
        assert app.get_job(child).state == "Awaiting"  # type: ignore[union-attr]
        info = wait_for_state(app, child, "Succeeded")
    assert info.result == 30
    assert [entry.name for entry in info.history][:2] == ["Awaiting", "Enqueued"]
    assert app.get_job(parent).continuations == (child,)  # type: ignore[union-attr]


def test_continuation_of_a_failed_parent_waits_unless_any_final_state(app: stoker.App) -> None:
    with app.server(workers=2, **FAST):
        parent = app.with_options(retries=0).enqueue(jobs.fail, "parent broke")
        on_success = app.continue_with(parent, jobs.add, 1, 2)
        on_any = app.with_options(on_any_final_state=True).continue_with(parent, jobs.add, 3, 4)
        wait_for_state(app, parent, "Failed")
        wait_for_state(app, on_any, "Succeeded")
        assert app.get_job(on_success).state == "Awaiting"  # type: ignore[union-attr]


def test_continuation_of_a_deleted_parent_is_deleted(app: stoker.App) -> None:
    parent = app.enqueue_in(timedelta(hours=1), jobs.add, 1, 2)
    child = app.continue_with(parent, jobs.add, 3, 4)
    assert app.delete(parent)
    info = app.get_job(child)
    assert info is not None
    assert info.state == "Deleted"


def test_async_job_runs_on_the_event_loop(app: stoker.App) -> None:
    with app.server(workers=2, **FAST):
        job_id = app.enqueue(jobs.async_sleep, 0.05)
        info = wait_for_state(app, job_id, "Succeeded")
    assert info.result == "slept"


def test_progress_and_log_lines_are_stored_with_the_job(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.enqueue(jobs.with_progress_and_log)
        info = wait_for_state(app, job_id, "Succeeded")
    assert info.result == job_id
    assert [text for _, text in info.logs] == ["first step done", "all done"]
    assert info.progress == 1.0


def test_queues_are_served_in_priority_order(app: stoker.App) -> None:
    low = [app.with_options(queue="low").enqueue(jobs.add, i, 0) for i in range(3)]
    high = [app.with_options(queue="critical").enqueue(jobs.add, i, 0) for i in range(3)]
    with app.server(workers=1, queues=["critical", "low"], **FAST):
        for job_id in low + high:
            wait_for_state(app, job_id, "Succeeded")
    started = {
        job_id: app.get_job(job_id).history[1].created_at  # type: ignore[union-attr]
        for job_id in low + high
    }
    assert max(started[j] for j in high) < min(started[j] for j in low)
