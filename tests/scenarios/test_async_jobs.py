"""`async def` jobs on the server's event loop: not capped by worker threads, on every storage."""

from __future__ import annotations

import signal
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

import stoker
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state
from tests.scenarios.processes import start_server, stop


def test_async_jobs_run_side_by_side_beyond_the_worker_threads(app: stoker.App) -> None:
    key = uuid.uuid4().hex
    ids = app.enqueue_many(jobs.async_rendezvous, [(key, 30, 10.0)] * 30)
    with app.server(workers=1, concurrency=30, **FAST):
        infos = [wait_for_state(app, job_id, "Succeeded", timeout=15) for job_id in ids]
    # One worker thread, thirty jobs that each waited until all thirty had started.
    assert [info.result for info in infos] == [30] * 30


def test_concurrency_caps_the_async_jobs_in_flight(app: stoker.App) -> None:
    key = uuid.uuid4().hex
    ids = app.enqueue_many(jobs.async_counted_sleep, [(key, 0.2)] * 12)
    with app.server(workers=2, concurrency=3, **FAST):
        for job_id in ids:
            wait_for_state(app, job_id, "Succeeded", timeout=15)
    assert jobs.most_in_flight(key) == 3


def test_a_sync_job_runs_while_async_jobs_wait_for_a_slot(app: stoker.App) -> None:
    first, second = app.enqueue_many(jobs.async_sleep, [(1.5,), (1.5,)])
    with app.server(workers=2, concurrency=1, **FAST):
        wait_for_state(app, first, "Processing")
        sync = app.enqueue(jobs.add, 2, 3)
        # One worker waits with the second async job for the only slot; the other is free.
        info = wait_for_state(app, sync, "Succeeded", timeout=1.2)
        assert app.get_job(first).state == "Processing"  # type: ignore[union-attr]
        wait_for_state(app, second, "Succeeded", timeout=10)
    assert info.result == 5


def test_an_async_job_reports_progress_and_log_lines(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.enqueue(jobs.async_with_progress_and_log)
        info = wait_for_state(app, job_id, "Succeeded")
    assert info.result == job_id
    assert [text for _, text in info.logs] == ["awaited"]
    assert info.progress == 1.0


def test_async_jobs_time_out_one_by_one_while_others_run(app: stoker.App) -> None:
    slow = app.with_options(timeout=timedelta(seconds=0.3), retries=0)
    stuck = [slow.enqueue(jobs.async_sleep, 30.0) for _ in range(3)]
    quick = app.enqueue(jobs.async_sleep, 0.05)
    with app.server(workers=1, **FAST):
        for job_id in stuck:
            info = wait_for_state(app, job_id, "Failed", timeout=5)
            assert info.exception is not None
            assert info.exception.type == "stoker.errors.JobTimeoutError"
        assert wait_for_state(app, quick, "Succeeded").result == "slept"


def test_graceful_stop_lets_async_jobs_finish_and_returns_the_rest(app: stoker.App) -> None:
    short = app.enqueue_many(jobs.async_sleep, [(0.3,)] * 5)
    long = app.enqueue(jobs.async_sleep, 30.0)
    server = app.server(workers=1, **FAST).start()
    wait_for(lambda: app.storage.count_by_state()["Processing"] == 6, 10, "6 jobs in flight")
    server.stop(timeout=2)
    assert [app.get_job(job_id).state for job_id in short] == ["Succeeded"] * 5  # type: ignore[union-attr]
    info = app.get_job(long)
    assert info is not None
    assert info.state == "Enqueued"
    assert info.history[-1].reason == f"Server {server.id} shut down"
    assert app.storage.list_servers() == []


@pytest.mark.slow
def test_async_jobs_of_a_killed_server_are_run_again_by_another(
    app: stoker.App, storage_url: str, tmp_path: Path
) -> None:
    ids = app.enqueue_many(jobs.async_sleep, [(1.0,)] * 4)
    victim = start_server(storage_url, "--concurrency", "4", workers=1)
    try:
        wait_for(lambda: app.storage.count_by_state()["Processing"] == 4, 15, "4 jobs in flight")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        stop(victim)
    with app.server(workers=1, **FAST):  # its watchdog declares the victim dead
        infos = [wait_for_state(app, job_id, "Succeeded", timeout=20) for job_id in ids]
    for info in infos:
        assert info.params["crashes"] == 1
        assert [entry.name for entry in info.history][:3] == ["Enqueued", "Processing", "Enqueued"]


def test_an_async_job_that_raises_system_exit_fails_and_the_loop_runs_on(
    app: stoker.App,
) -> None:
    with app.server(workers=1, **FAST):
        exiting = app.with_options(retries=0).enqueue(jobs.async_exit, 3)
        info = wait_for_state(app, exiting, "Failed")
        after = app.enqueue(jobs.async_sleep, 0.01)
        assert wait_for_state(app, after, "Succeeded").result == "slept"
    assert info.exception is not None
    assert info.exception.type == "SystemExit"


def test_an_async_job_whose_result_cannot_be_stored_fails_and_frees_its_slot(
    app: stoker.App,
) -> None:
    with app.server(workers=1, concurrency=1, **FAST):
        broken = app.with_options(retries=0).enqueue(jobs.async_self_reference)
        info = wait_for_state(app, broken, "Failed")
        after = app.enqueue(jobs.async_sleep, 0.01)  # the only slot came back
        assert wait_for_state(app, after, "Succeeded").result == "slept"
    assert info.exception is not None


def test_a_workers_check_for_lost_claims_leaves_its_running_async_jobs_alone(
    app: stoker.App,
) -> None:
    server = app.server(workers=1, **FAST)
    with server:
        job_id = app.enqueue(jobs.async_sleep, 0.8)
        wait_for_state(app, job_id, "Processing")
        worker = server._workers[0]
        worker._doubt_claims()  # as after a fetch whose reply was lost
        assert worker._recover_lost_claims(holding=None)
        info = wait_for_state(app, job_id, "Succeeded")
    assert [entry.name for entry in info.history] == ["Enqueued", "Processing", "Succeeded"]
