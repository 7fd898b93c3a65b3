"""A job that crashes its process (a segfault) is not run forever: after `max_crashes` server
deaths it is Failed with a clear reason, while the other jobs go on."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import stoker
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.servers import cli_server, custom_server
from tests.reliability.support import (
    Figures,
    read_runs,
    storage_kind,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
OTHER_JOBS = 60
SEGFAULT = -11  # a child's return code when SIGSEGV ended it
PEER = {"heartbeat_interval": 0.3, "server_timeout": 1.0, "poll_interval": 0.2}


def _failed_info(app: stoker.App, job_id: str) -> stoker.JobInfo:
    info = app.get_job(job_id)
    assert info is not None
    assert info.state == "Failed"
    assert info.exception is not None
    assert info.exception.type == "stoker.errors.ServerCrashedError"
    return info


def test_segfaulting_job_is_failed_after_three_crashes_under_a_process_supervisor(
    storage_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(storage_url)
    runs = tmp_path / "runs.log"
    half = OTHER_JOBS // 2
    others = [app.enqueue(jobs.mark, str(runs), n, 0.05) for n in range(half)]
    poison = app.enqueue(jobs.segfault)
    others += [app.enqueue(jobs.mark, str(runs), n, 0.05) for n in range(half, OTHER_JOBS)]
    # `--processes 2` restarts a child that died; the other child's watchdog requeues its job.
    # One worker each, so that a crash takes only the poison job with it (see the next test).
    parent = cli_server(storage_url, tmp_path, "--processes", "2", workers=1, log_level="INFO")
    began = time.monotonic()
    try:
        wait_for(lambda: app.get_job(poison).state == "Failed", 60, "the poison job to fail")  # type: ignore[union-attr]
        took = time.monotonic() - began
        wait_for(lambda: app.storage.count_by_state()["Succeeded"] == OTHER_JOBS, 60, "the rest")
    finally:
        assert parent.stop(30) == 0
    info = _failed_info(app, poison)
    assert info.params["crashes"] == 3
    assert "Gave up after 3 server crashes" in (info.history[-1].reason or "")
    assert parent.log().count(f"exited with {SEGFAULT}") == 3  # it ran 3 times, not a 4th
    assert set(read_runs(runs)) == set(range(OTHER_JOBS))
    figures.add(
        "poison job (segfault)",
        storage_kind(storage_url),
        process_crashes=3,
        final_state="Failed",
        other_jobs_succeeded=OTHER_JOBS,
        seconds_to_fail=round(took, 1),
    )
    app.close()


def test_max_crashes_is_configurable(redis_url: str, tmp_path: Path) -> None:
    # One storage is enough: the limit is applied by the worker, whatever the storage (the
    # crash counting of every storage is covered by the test above).
    storage_url = redis_url
    app = stoker.App(storage_url)
    poison = app.enqueue(jobs.segfault)
    options = {**PEER, "workers": 1, "max_crashes": 1}
    victim = custom_server(storage_url, tmp_path, options)
    assert victim.wait(30) == SEGFAULT
    # The survivor's watchdog requeues the job, and a fetch with crashes >= 1 fails it at once.
    survivor = custom_server(storage_url, tmp_path, options)
    try:
        wait_for(lambda: app.get_job(poison).state == "Failed", 30, "the poison job to fail")  # type: ignore[union-attr]
    finally:
        assert survivor.stop() == 0
    assert _failed_info(app, poison).params["crashes"] == 1
    app.close()


def test_a_job_that_ran_next_to_a_poison_job_is_not_failed_with_it(
    redis_url: str, tmp_path: Path
) -> None:
    storage_url = redis_url  # the flaw is in the server's crash accounting, not in a storage
    app = stoker.App(storage_url)
    runs = tmp_path / "runs.log"
    poison = app.enqueue(jobs.segfault, 0.5)  # both workers have fetched when it crashes
    neighbour = app.enqueue(jobs.mark, str(runs), 1, 1.0)
    options = {**PEER, "workers": 2, "max_crashes": 2}
    for _ in range(2):
        assert custom_server(storage_url, tmp_path, options).wait(30) == SEGFAULT
        # A peer that serves another queue: it only requeues the dead server's jobs.
        with app.server(workers=1, queues=["elsewhere"], **PEER) as peer:
            wait_for(lambda: app.storage.count_by_state()["Processing"] == 0, 15, "a requeue")
            peer.stop(timeout=0)
    last = custom_server(storage_url, tmp_path, options)
    try:
        wait_for(lambda: _final(app, poison) and _final(app, neighbour), 30, "both to end")
    finally:
        assert last.stop() == 0
    _failed_info(app, poison)
    assert app.get_job(neighbour).state == "Succeeded"  # type: ignore[union-attr]
    app.close()


def _final(app: stoker.App, job_id: str) -> bool:
    return app.get_job(job_id).state in ("Succeeded", "Failed")  # type: ignore[union-attr]
