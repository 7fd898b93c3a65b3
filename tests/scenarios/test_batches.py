"""Batches from the API: created with their block, continued once when all jobs settled, and
deleted or requeued as a whole."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import stoker
from stoker.core import reasons
from stoker.core.errors import BatchNotFoundError, JobDefinitionError
from tests.aio import run
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state

pytestmark = pytest.mark.slow


def batch_state(app: stoker.App, batch_id: str) -> str | None:
    found = app.get_batch(batch_id)
    return found.state if found is not None else None


def test_a_batch_runs_and_then_its_continuation_runs_once(app: stoker.App, tmp_path: Path) -> None:
    with app.batch("twenty sums") as batch:
        assert len(batch.id) == 32  # known inside the block
        batch.enqueue_many(jobs.add, [(n, n) for n in range(18)])
        batch.enqueue(jobs.add, 1, 2)
        batch.enqueue_in(0.2, jobs.add, 3, 4)
        batch.then(jobs.record_run, str(tmp_path), "after")
        assert app.storage.count_by_state()["Enqueued"] == 0  # nothing before the block ends
    assert len(batch.job_ids) == 21
    continuation = batch.job_ids[-1]
    assert app.get_job(continuation).state == "Awaiting"  # type: ignore[union-attr]
    with app.server(workers=4, **FAST):
        info = wait_for_state(app, continuation, "Succeeded", timeout=30)
    assert reasons.batch_finished(batch.id, "Succeeded") in [e.reason for e in info.history]
    assert (tmp_path / "after").read_text().count("\n") == 1
    found = app.get_batch(batch.id)
    assert found is not None
    assert (found.state, found.total, found.counts["Succeeded"]) == ("Succeeded", 20, 20)
    assert found.description == "twenty sums"


def make_then_fail(app: stoker.App) -> stoker.Batch:
    with app.batch() as batch:
        batch.enqueue(jobs.add, 1, 2)
        raise RuntimeError("changed my mind")


def test_a_block_that_raises_creates_nothing(app: stoker.App) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"):
        make_then_fail(app)
    (batch,) = app.storage.list_batches() or [None]
    assert batch is None
    assert sum(app.storage.count_by_state().values()) == 0
    with app.batch() as done:
        done.enqueue(jobs.add, 1, 2)
    with pytest.raises(JobDefinitionError, match="was created when its block ended"):
        done.enqueue(jobs.add, 1, 2)


def test_a_continuation_for_success_only_is_deleted_when_a_job_failed(app: stoker.App) -> None:
    with app.with_options(retries=0).batch() as batch:
        batch.enqueue(jobs.add, 1, 2)
        batch.enqueue(jobs.fail, "one of them")
        batch.then_if_succeeded(jobs.add, 0, 0)
    later = app.continue_batch_with(batch.id, jobs.add, 5, 5)
    with app.server(workers=2, **FAST):
        wait_for_state(app, later, "Succeeded", timeout=30)
    picky = app.get_job(batch.job_ids[-1])
    assert picky is not None
    assert picky.state == "Deleted"
    assert picky.history[-1].reason == reasons.batch_condition_not_met(batch.id, "Failed")
    assert batch_state(app, batch.id) == "Failed"
    done = app.continue_batch_if_succeeded(batch.id, jobs.add, 6, 6)
    assert app.get_job(done).state == "Deleted"  # type: ignore[union-attr]
    with pytest.raises(BatchNotFoundError):
        app.continue_batch_with("no-such-batch", jobs.add, 1, 1)


def test_a_batch_is_deleted_and_requeued_as_a_whole(app: stoker.App) -> None:
    with app.batch() as batch:
        batch.enqueue_many(jobs.add, [(n, 1) for n in range(5)])
        batch.then(jobs.add, 0, 0)
    assert app.delete_batch(batch.id) == 5
    found = app.get_batch(batch.id)
    assert found is not None
    assert (found.state, found.finished_at) == ("Deleted", None)  # until a batch keeper looks
    with app.server(workers=1, **FAST):
        wait_for(lambda: batch_state(app, batch.id) == "Deleted", 10, "the batch to finish")
        assert app.requeue_batch(batch.id) == 5
        wait_for(lambda: batch_state(app, batch.id) == "Succeeded", 20, "the requeued jobs")
    history = app.get_job(batch.job_ids[0]).history  # type: ignore[union-attr]
    assert reasons.deleted_with_batch(batch.id) in [entry.reason for entry in history]


def test_a_hundred_thousand_job_batch_completes_and_continues_once(
    app: stoker.App, tmp_path: Path
) -> None:
    started = time.perf_counter()
    with app.batch("big") as batch:
        batch.enqueue_many(jobs.add, [(n, 1) for n in range(100_000)])
        batch.then(jobs.record_run, str(tmp_path), "after-big")
    created = time.perf_counter() - started
    assert created < 60, f"creating took {created:.1f} s"
    with app.server(workers=10, **FAST):
        wait_for_state(app, batch.job_ids[-1], "Succeeded", timeout=240)
    found = app.get_batch(batch.id)
    assert found is not None
    assert (found.counts["Succeeded"], found.state) == (100_000, "Succeeded")
    assert (tmp_path / "after-big").read_text().count("\n") == 1


def test_an_async_app_makes_and_reads_a_batch(storage_url: str) -> None:
    async def make() -> tuple[int, str, int]:
        async with stoker.AsyncApp(storage_url) as client:
            async with client.batch("from asyncio") as batch:
                batch.enqueue(jobs.add, 1, 2)
                batch.then(jobs.add, 0, 0)
            found = await client.get_batch(batch.id)
            assert found is not None
            later = await client.continue_batch_with(batch.id, jobs.add, 3, 3)
            deleted = await client.delete_batch(batch.id)
            return found.total, later, deleted

    total, later, deleted = run(make())
    assert (total, deleted) == (1, 1)
    assert later
