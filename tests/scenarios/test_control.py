"""Timeouts, cancellation and graceful shutdown on a real server, on every storage."""

from __future__ import annotations

import time
from datetime import timedelta

import stoker
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state


def test_sync_job_over_its_timeout_fails_with_job_timeout_error(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        slow = app.with_options(timeout=timedelta(seconds=0.3), retries=0)
        job_id = slow.enqueue(jobs.busy_loop, 5.0)
        info = wait_for_state(app, job_id, "Failed", timeout=4)
    assert info.exception is not None
    assert info.exception.type == "stoker.errors.JobTimeoutError"
    assert "timeout of 0.3 s" in info.exception.message


def test_async_job_over_its_timeout_is_cancelled_and_fails(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        slow = app.with_options(timeout=timedelta(seconds=0.2), retries=0)
        job_id = slow.enqueue(jobs.async_sleep, 5.0)
        info = wait_for_state(app, job_id, "Failed", timeout=4)
    assert info.exception is not None
    assert info.exception.type == "stoker.errors.JobTimeoutError"


def test_a_job_that_catches_exception_cannot_outrun_its_timeout(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        started = time.monotonic()
        slow = app.with_options(timeout=timedelta(seconds=0.3), retries=0)
        job_id = slow.enqueue(jobs.swallow_exceptions, 4.0)
        info = wait_for_state(app, job_id, "Failed", timeout=6)
        # `except Exception` does not catch JobTimeoutError: the job stops at its timeout.
        assert time.monotonic() - started < 3.0
    assert info.exception is not None
    assert info.exception.type == "stoker.errors.JobTimeoutError"
    assert "Succeeded" not in [entry.name for entry in info.history]


def test_a_job_that_swallows_its_timeout_is_failed_not_succeeded(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        slow = app.with_options(timeout=timedelta(seconds=0.3), retries=0)
        job_id = slow.enqueue(jobs.swallow_everything, 1.5)
        after = app.enqueue(jobs.add, 2, 3)  # the same worker runs it next
        info = wait_for_state(app, job_id, "Failed", timeout=6)
        next_job = wait_for_state(app, after, "Succeeded", timeout=6)
    assert info.exception is not None
    assert info.exception.type == "stoker.errors.JobTimeoutError"
    assert "return value is dropped" in info.exception.message
    assert info.result is None
    # The repeated interrupts stop with the job: none reaches the next one.
    assert next_job.result == 5
    assert [entry.name for entry in next_job.history] == ["Enqueued", "Processing", "Succeeded"]


def test_a_timed_out_job_is_retried_like_any_failure(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        slow = app.with_options(timeout=timedelta(seconds=0.2), retries=1, retry_delays=[0])
        job_id = slow.enqueue(jobs.swallow_exceptions, 3.0)
        info = wait_for_state(app, job_id, "Failed", timeout=10)
    names = [entry.name for entry in info.history]
    assert names.count("Processing") == 2
    retry = next(entry for entry in info.history if entry.name == "Scheduled")
    assert "JobTimeoutError" in (retry.reason or "")


def test_a_timeout_never_lands_inside_a_jobs_own_log_writes(app: stoker.App) -> None:
    with app.server(workers=2, **FAST):
        slow = app.with_options(timeout=timedelta(seconds=0.3), retries=0)
        job_ids = [slow.enqueue(jobs.log_until_stopped, 1_000_000) for _ in range(2)]
        infos = [wait_for_state(app, job_id, "Failed", timeout=10) for job_id in job_ids]
    for info in infos:
        assert info.exception is not None
        assert info.exception.type == "stoker.errors.JobTimeoutError"
        lines = [text for _at, text in info.logs]
        assert lines, "the job logged before its timeout"
        # Each line stored once and in order: no write was cut in half or repeated.
        assert lines == [f"line {number}" for number in range(len(lines))]


def test_deleting_a_running_job_sets_its_cancelled_flag(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.enqueue(jobs.wait_until_cancelled, 10.0)
        wait_for_state(app, job_id, "Processing")
        deleted_at = time.monotonic()
        assert app.delete(job_id, expected_state="Processing")
        # The job returns "noticed cancellation" once it sees the flag; its late Succeeded is
        # fenced off, so the job stays Deleted. Wait for the worker to become free instead.
        probe = app.enqueue(jobs.add, 1, 1)
        wait_for_state(app, probe, "Succeeded", timeout=5)
        assert time.monotonic() - deleted_at < 3.0
    info = app.get_job(job_id)
    assert info is not None
    assert info.state == "Deleted"
    assert [entry.name for entry in info.history] == ["Enqueued", "Processing", "Deleted"]


def test_deleting_a_running_async_job_cancels_it(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.enqueue(jobs.async_sleep, 30.0)
        wait_for_state(app, job_id, "Processing")
        assert app.delete(job_id)
        probe = app.enqueue(jobs.add, 1, 1)
        wait_for_state(app, probe, "Succeeded", timeout=5)
    assert app.get_job(job_id).state == "Deleted"  # type: ignore[union-attr]


def test_graceful_stop_lets_short_jobs_finish(app: stoker.App) -> None:
    server = app.server(workers=2, **FAST).start()
    job_id = app.enqueue(jobs.sleep_for, 0.5)
    wait_for_state(app, job_id, "Processing")
    server.stop(timeout=5)
    assert app.get_job(job_id).state == "Succeeded"  # type: ignore[union-attr]
    assert app.storage.list_servers() == []


def test_graceful_stop_returns_jobs_that_run_too_long(app: stoker.App) -> None:
    server = app.server(workers=1, **FAST).start()
    job_id = app.enqueue(jobs.sleep_for, 1.5)
    wait_for_state(app, job_id, "Processing")
    server.stop(timeout=0.2)
    info = app.get_job(job_id)
    assert info is not None
    assert info.state == "Enqueued"
    assert info.history[-1].reason == f"Server {server.id} shut down"
    with app.server(workers=1, **FAST):  # the next server finishes it
        wait_for_state(app, job_id, "Succeeded")


def test_requeued_failed_job_runs_again(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.with_options(retries=0).enqueue(jobs.fail, "first time")
        wait_for_state(app, job_id, "Failed")
        assert app.requeue(job_id, expected_state="Failed")
        wait_for(lambda: len(app.get_job(job_id).history) >= 6, what="second attempt")  # type: ignore[union-attr]
    names = [entry.name for entry in app.get_job(job_id).history]  # type: ignore[union-attr]
    assert names == ["Enqueued", "Processing", "Failed", "Enqueued", "Processing", "Failed"]
