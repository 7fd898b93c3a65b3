"""A claim that committed but whose reply was lost with the connection: the job still runs."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import stoker
from stoker.core.reasons import LOST_CLAIM
from stoker.server import worker as worker_module
from stoker.server.worker import Worker
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state


def _lose_first_reply_with_a_job(
    monkeypatch: pytest.MonkeyPatch, storage: Any, name: str, claimed: Callable[[Any], bool]
) -> list[Any]:
    """Make `storage.<name>` commit as usual, then raise once instead of returning a reply
    that holds a claimed job: what a connection dropped right after the commit looks like."""
    real = getattr(storage, name)
    lost: list[Any] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        reply = real(*args, **kwargs)
        if not lost and claimed(reply):
            lost.append(reply)
            raise ConnectionError("connection lost after the commit (simulated)")
        return reply

    monkeypatch.setattr(storage, name, call)
    return lost


def _history(app: stoker.App, job_id: str) -> list[tuple[str, str | None]]:
    info = app.get_job(job_id)
    assert info is not None
    return [(entry.name, entry.reason) for entry in info.history]


def test_job_whose_claim_reply_was_lost_is_requeued_and_run(
    app: stoker.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = app.enqueue(jobs.add, 2, 3)
    lost = _lose_first_reply_with_a_job(
        monkeypatch, app.storage, "fetch_next", lambda reply: reply is not None
    )
    with app.server(workers=1, **FAST):
        info = wait_for_state(app, job_id, "Succeeded")
    assert [job.id for job in lost] == [job_id]
    assert info.result == 5
    names = [name for name, _ in _history(app, job_id)]
    assert names == ["Enqueued", "Processing", "Enqueued", "Processing", "Succeeded"]
    assert _history(app, job_id)[2][1] == LOST_CLAIM


def test_next_job_claimed_by_a_finish_whose_reply_was_lost_is_run(
    app: stoker.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = app.enqueue(jobs.add, 1, 1)
    second = app.enqueue(jobs.add, 2, 2)
    lost = _lose_first_reply_with_a_job(
        monkeypatch, app.storage, "finish_and_fetch", lambda reply: reply[1] is not None
    )
    with app.server(workers=1, **FAST):
        wait_for_state(app, first, "Succeeded")
        wait_for_state(app, second, "Succeeded")
    assert [reply[1].id for reply in lost] == [second]
    # The first job's outcome was stored once: the retry of the finish saw it applied.
    assert [name for name, _ in _history(app, first)] == ["Enqueued", "Processing", "Succeeded"]
    second_history = _history(app, second)
    assert [name for name, _ in second_history] == [
        "Enqueued",
        "Processing",
        "Enqueued",
        "Processing",
        "Succeeded",
    ]
    assert second_history[2][1] == LOST_CLAIM
    assert app.storage.count_by_state()["Processing"] == 0


def test_claim_committed_after_the_first_look_is_found_by_the_second(
    app: stoker.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_module, "LATE_CLAIM_RECHECK", 0.6)
    job_id = app.enqueue(jobs.add, 4, 5)
    real = app.storage.fetch_next
    late: list[Any] = []
    calls = 0

    def fetch_next(queues: Any, server_id: str, worker_id: str, now: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            # The statement was still running on the database when the connection broke
            # (waiting for a lock, say): its claim commits only after the worker's first look.
            def commit_late() -> None:
                time.sleep(0.3)
                late.append(real(queues, server_id, worker_id, now))

            threading.Thread(target=commit_late, daemon=True).start()
            raise ConnectionError("connection lost while the statement ran (simulated)")
        if not late:
            return None  # the job is locked by that statement until it commits
        return real(queues, server_id, worker_id, now)

    monkeypatch.setattr(app.storage, "fetch_next", fetch_next)
    with app.server(workers=1, **FAST):
        info = wait_for_state(app, job_id, "Succeeded")
    assert late[0] is not None
    assert late[0].id == job_id
    assert info.result == 9
    assert _history(app, job_id)[2] == ("Enqueued", LOST_CLAIM)


def test_the_job_a_worker_holds_is_never_taken_for_a_lost_claim(app: stoker.App) -> None:
    lost_id, held_id = app.enqueue(jobs.add, 1, 2), app.enqueue(jobs.add, 3, 4)
    server = app.server(workers=1, **FAST)
    worker = Worker(server.context, 1)
    now = app.clock.now()
    lost = app.storage.fetch_next(["default"], server.id, worker.worker_id, now)
    held = app.storage.fetch_next(["default"], server.id, worker.worker_id, now)
    assert lost is not None
    assert held is not None
    assert (lost.id, held.id) == (lost_id, held_id)
    worker._doubt_claims()
    assert worker._recover_lost_claims(holding=held) is True
    assert [name for name, _ in _history(app, lost_id)] == ["Enqueued", "Processing", "Enqueued"]
    assert [name for name, _ in _history(app, held_id)] == ["Enqueued", "Processing"]


@pytest.mark.parametrize("storage_url", ["postgres", "redis"], indirect=True)
def test_every_worker_of_a_batch_whose_reply_was_lost_recovers_its_claim(
    app: stoker.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL and Redis run concurrent workers' steps as one batch (worker_steps.py): a
    # lost reply then fails every member, and each must find its own claim. The first four
    # jobs finish together, so their workers' finish-and-fetch steps meet in one batch.
    key = f"batch-{uuid.uuid4().hex}"
    job_ids = [app.enqueue(jobs.gather, key, 4) for _ in range(4)]
    job_ids += [app.enqueue(jobs.sleep_for, 0.05) for _ in range(8)]
    storage: Any = app.storage
    real = storage._run_steps
    lost: list[list[Any]] = []

    def run_steps(queues: Any, server_id: str, steps: Any) -> Any:
        results = real(queues, server_id, steps)
        claimed = [fetched for _, fetched in results if fetched is not None]
        if not lost and len(claimed) > 1:
            lost.append(claimed)
            raise ConnectionError("connection lost after the commit (simulated)")
        return results

    monkeypatch.setattr(storage, "_run_steps", run_steps)
    with app.server(workers=4, **FAST):
        for job_id in job_ids:
            wait_for_state(app, job_id, "Succeeded", timeout=20)
    assert len(lost) == 1
    for fetched in lost[0]:
        assert ("Enqueued", LOST_CLAIM) in _history(app, fetched.id)
    for job_id in job_ids:
        assert [name for name, _ in _history(app, job_id)].count("Succeeded") == 1
    assert app.storage.count_by_state()["Processing"] == 0
