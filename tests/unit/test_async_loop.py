"""AsyncLoop: the event loop a server shares between its async jobs, stopped with the server."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings
from collections.abc import Iterator

import pytest

from stoker.core.context import JobContext
from stoker.server.runner import AsyncLoop, RunningJob, start_async
from stoker.storage.sqlite import SQLiteStorage
from stoker.testing.clock import FakeClock


@pytest.fixture
def running() -> Iterator[RunningJob]:
    storage = SQLiteStorage(":memory:")
    context = JobContext("1", "m:f", "default", {}, storage=storage, clock=FakeClock())
    yield RunningJob(context, state_id=1, thread_id=threading.get_ident(), timeout=None)
    storage.close()


async def nap(log: list[str]) -> None:
    try:
        await asyncio.sleep(60)
    finally:
        log.append("finally ran")


def test_a_stopped_loop_refuses_a_job_and_leaves_no_unawaited_coroutine(
    running: RunningJob,
) -> None:
    loop = AsyncLoop()
    loop.loop()
    loop.stop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match="has stopped"):
            start_async(nap, [[]], {}, running, loop)
        gc.collect()  # an un-awaited coroutine warns when it is collected
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_tasks_still_running_when_the_loop_stops_are_cancelled_and_end(
    running: RunningJob,
) -> None:
    loop = AsyncLoop()
    log: list[str] = []
    future = start_async(nap, [log], {}, running, loop)
    time.sleep(0.05)  # the task has started and awaits its sleep
    loop.stop()
    deadline = time.monotonic() + 5
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.cancelled()
    assert log == ["finally ran"]  # the cancelled task ran its finally block


async def deaf(started: threading.Event) -> None:
    """A job that swallows its cancellation and waits on."""
    started.set()
    while True:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            continue


def test_a_task_that_outlives_its_stopped_loop_is_closed_quietly(running: RunningJob) -> None:
    loop = AsyncLoop()
    started = threading.Event()
    future = start_async(deaf, [started], {}, running, loop)
    assert started.wait(5)
    event_loop = loop.loop()
    loop.stop()
    deadline = time.monotonic() + 5
    while not event_loop.is_closed() and time.monotonic() < deadline:
        time.sleep(0.05)  # the loop gives cancelled tasks a second, then closes
    assert event_loop.is_closed()
    assert not future.done()  # it never ended: its coroutine is closed when collected
    del future, event_loop
    gc.collect()  # closing it must not raise out of the job's wrapper (pytest: an error)
