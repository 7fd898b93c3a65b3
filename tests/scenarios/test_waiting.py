"""Waiting for a job's end: `App.wait` and `AsyncApp`, on every storage."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TypeVar

import pytest

import stoker
from stoker.client import waiting
from stoker.core.protocols import SettledNotices
from tests.aio import run
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST

T = TypeVar("T")


def test_wait_returns_the_job_once_it_succeeded(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        job_id = app.enqueue(jobs.sleep_for, 0.2)
        info = app.wait(job_id, timeout=10)
    assert (info.state, info.result) == ("Succeeded", 0.2)
    assert [entry.name for entry in info.history] == ["Enqueued", "Processing", "Succeeded"]


def test_wait_returns_a_job_that_failed_for_good_or_was_deleted(app: stoker.App) -> None:
    with app.server(workers=1, **FAST):
        failed = app.with_options(retries=0).enqueue(jobs.fail, "no luck")
        assert app.wait(failed, timeout=timedelta(seconds=10)).state == "Failed"
    deleted = app.enqueue(jobs.add, 1, 2)
    app.delete(deleted)
    assert app.wait(deleted, timeout=0).state == "Deleted"


def test_wait_does_not_return_while_a_failed_job_is_retried(app: stoker.App) -> None:
    retried = app.with_options(retries=1, retry_delays=[0.3]).enqueue(jobs.fail, "again")
    with app.server(workers=1, **FAST):
        info = app.wait(retried, timeout=10)
    names = [entry.name for entry in info.history]
    assert names == ["Enqueued", "Processing", "Scheduled", "Enqueued", "Processing", "Failed"]


def test_wait_gives_up_with_a_clear_error_after_its_timeout(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1, 2)  # no server runs it
    started = time.monotonic()
    with pytest.raises(stoker.JobWaitTimeoutError, match=f"job {job_id} is still Enqueued"):
        app.wait(job_id, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2.0


def test_wait_for_a_job_that_does_not_exist_raises_at_once(app: stoker.App) -> None:
    with pytest.raises(stoker.JobNotFoundError, match="no job with id '987654321'"):
        app.wait("987654321", timeout=5)


@pytest.mark.parametrize("timeout", [-1, "5", float("nan"), True])
def test_a_bad_wait_timeout_is_refused(app: stoker.App, timeout: object) -> None:
    job_id = app.enqueue(jobs.add, 1, 2)
    with pytest.raises(ValueError, match="timeout must be seconds"):
        app.wait(job_id, timeout=timeout)  # type: ignore[arg-type]


def test_async_app_enqueues_and_waits_without_blocking_the_loop(storage_url: str) -> None:
    async def scenario() -> tuple[stoker.JobInfo, int]:
        async with stoker.AsyncApp(storage_url) as client:
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            with client.app.server(workers=1, **FAST):
                job_id = await client.enqueue(jobs.sleep_for, 0.5)
                info = await client.wait(job_id, timeout=10)
            ticker.cancel()
            return info, ticks

    info, ticks = run(scenario())
    assert (info.state, info.result) == ("Succeeded", 0.5)
    assert ticks >= 20  # the loop kept running while the job ran and was waited for


def test_async_app_has_every_client_call(storage_url: str) -> None:
    async def scenario() -> None:
        async with stoker.AsyncApp(storage_url) as client:
            first = await client.with_options(queue="mail").enqueue(jobs.add, 1, 2)
            later = await client.enqueue_in(timedelta(hours=1), jobs.add, 3, 4)
            at = await client.enqueue_at(
                client.app.clock.now() + timedelta(hours=2), jobs.add, 5, 6
            )
            many = await client.enqueue_many(jobs.add, ((n, n) for n in range(3)))
            child = await client.continue_with(first, jobs.add, 7, 8)
            assert (await client.get_job(first)).queue == "mail"  # type: ignore[union-attr]
            assert (await client.get_job(later)).state == "Scheduled"  # type: ignore[union-attr]
            assert (await client.get_job(child)).state == "Awaiting"  # type: ignore[union-attr]
            assert await client.delete(at, reason="not needed")
            assert (await client.wait(at, timeout=1)).history[-1].reason == "not needed"
            assert await client.requeue(at, expected_state="Deleted")
            assert len(many) == 3
            assert await client.get_job("987654321") is None
            await client.recurring.add_or_update("nightly", "0 3 * * *", jobs.add, 1, 1)
            assert [r.id for r in await client.recurring.list()] == ["nightly"]
            assert await client.recurring.pause("nightly")
            assert (await client.recurring.get("nightly")).paused  # type: ignore[union-attr]
            assert await client.recurring.resume("nightly")
            triggered = await client.recurring.trigger("nightly")
            assert (await client.get_job(triggered)).state == "Enqueued"  # type: ignore[union-attr]
            assert await client.recurring.remove("nightly")

    run(scenario())


def test_async_app_raises_bad_input_at_the_await_and_stores_nothing(storage_url: str) -> None:
    async def scenario() -> None:
        async with stoker.AsyncApp(storage_url) as client:
            with pytest.raises(stoker.JobDefinitionError):
                await client.enqueue(jobs.add, 1, 2, 3)  # add takes two arguments
            with pytest.raises(stoker.JobDefinitionError):
                await client.enqueue(lambda: None)
            assert client.app.storage.count_by_state()["Enqueued"] == 0

    run(scenario())


def test_async_app_wraps_an_existing_app(app: stoker.App) -> None:
    client = stoker.AsyncApp(app)
    assert client.app is app
    with pytest.raises(TypeError, match="pass App options to the App"):
        stoker.AsyncApp(app, default_queue="mail")
    job_id = app.enqueue(jobs.add, 1, 2)
    info = run(client.get_job(job_id))
    assert info is not None
    assert info.id == job_id


@pytest.fixture(params=["postgres", "redis"])
def notifying_app(request: pytest.FixtureRequest) -> Iterator[stoker.App]:
    """An App on a storage that sends settled notices (SQLite's waits poll instead)."""
    application = stoker.App(request.getfixturevalue(f"{request.param}_url"))
    yield application
    application.close()


def test_sqlite_sends_no_notices_and_its_waits_poll(sqlite_url: str) -> None:
    app = stoker.App(sqlite_url)
    try:
        assert not isinstance(app.storage, SettledNotices)
        job_id = app.enqueue_in(timedelta(hours=1), jobs.add, 1, 2)
        timer = _settle_soon(app, job_id, 0.2)
        assert app.wait(job_id, timeout=10).state == "Deleted"
        timer.join()
    finally:
        app.close()


def _settle_soon(app: stoker.App, job_id: str, seconds: float) -> threading.Timer:
    """Delete the job (a settled state) `seconds` from now, from another thread."""
    timer = threading.Timer(seconds, app.delete, (job_id,))
    timer.start()
    return timer


@pytest.fixture
def notices_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Safety-net polls so rare that a wait can only end in time through a notice."""
    monkeypatch.setattr(waiting, "FIRST_POLL_NOTIFIED", 60.0)
    monkeypatch.setattr(waiting, "LONGEST_POLL_NOTIFIED", 60.0)


@pytest.mark.usefixtures("notices_only")
def test_wait_is_woken_by_the_storages_notice_not_by_polling(notifying_app: stoker.App) -> None:
    app = notifying_app
    assert isinstance(app.storage, SettledNotices)
    job_id = app.enqueue_in(timedelta(hours=1), jobs.add, 1, 2)
    timer = _settle_soon(app, job_id, 0.5)
    started = time.monotonic()
    info = app.wait(job_id, timeout=20)
    timer.join()
    assert info.state == "Deleted"
    assert time.monotonic() - started < 20  # a notice, not the 60 s poll, ended the wait


@pytest.mark.usefixtures("notices_only")
def test_async_wait_is_woken_by_the_storages_notice(notifying_app: stoker.App) -> None:
    async def scenario() -> tuple[str, float]:
        async with stoker.AsyncApp(notifying_app) as client:
            job_id = await client.enqueue_in(timedelta(hours=1), jobs.add, 1, 2)
            timer = _settle_soon(client.app, job_id, 0.5)
            started = time.monotonic()
            info = await client.wait(job_id, timeout=20)
            timer.join()
            return info.state, time.monotonic() - started

    state, waited = run(scenario())
    assert state == "Deleted"
    assert waited < 20  # a notice, not the 60 s poll, ended the wait


def test_a_worker_finishing_a_job_sends_the_notice(notifying_app: stoker.App) -> None:
    app = notifying_app
    assert isinstance(app.storage, SettledNotices)
    job_id = app.enqueue(jobs.add, 1, 2)
    woken = threading.Event()
    stop = app.storage.watch_settled(job_id, woken.set)
    try:
        time.sleep(0.3)  # the listener's first (re)connection wakes every watcher once
        woken.clear()
        with app.server(workers=1, **FAST):
            assert woken.wait(10)
            assert app.storage.job_states([job_id])[job_id][0] == "Succeeded"
    finally:
        stop()


def test_async_wait_gives_up_with_a_clear_error_after_its_timeout(storage_url: str) -> None:
    async def scenario() -> None:
        async with stoker.AsyncApp(storage_url) as client:
            job_id = await client.enqueue(jobs.add, 1, 2)  # no server runs it
            with pytest.raises(stoker.JobWaitTimeoutError, match=r"still Enqueued after 0\.3 s"):
                await client.wait(job_id, timeout=0.3)

    run(scenario())
