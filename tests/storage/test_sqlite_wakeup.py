"""SQLite wake-ups: an enqueue in this process wakes waiters at once, another process's soon."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from stoker.core.states import Enqueued, Succeeded
from stoker.storage.sqlite import SQLiteStorage
from stoker.testing.contract_support import (
    SERVER,
    WORKER,
    at,
    change,
    create,
    make_job,
    make_recurring,
)

# Longer than any test: with it, only the in-process signal can wake a waiter in time.
SLOW_POLL = 30.0
FAST = 0.5  # loose bound for "at once" on a loaded machine


@pytest.fixture
def storage(sqlite_url: str) -> Iterator[SQLiteStorage]:
    opened = SQLiteStorage.from_url(f"{sqlite_url}?poll_interval={SLOW_POLL}")
    yield opened
    opened.close()


class Waiter(threading.Thread):
    """A worker's loop once: fetch (finding nothing), then wait for jobs."""

    def __init__(self, storage: SQLiteStorage, queues: list[str], timeout: float = 5.0) -> None:
        super().__init__()
        self.storage, self.queues, self.timeout = storage, queues, timeout
        self.fetched_nothing = threading.Event()
        self.waited = -1.0
        self.woke_at = 0.0

    def run(self) -> None:
        assert self.storage.fetch_next(self.queues, SERVER, WORKER, at(0)) is None
        self.fetched_nothing.set()
        started = time.monotonic()
        self.storage.wait_for_jobs(self.queues, self.timeout)
        self.woke_at = time.monotonic()
        self.waited = self.woke_at - started


def _start_waiting(storage: SQLiteStorage, queues: list[str], timeout: float = 5.0) -> Waiter:
    waiter = Waiter(storage, queues, timeout)
    waiter.start()
    waiter.fetched_nothing.wait()
    time.sleep(0.05)  # most likely blocked in wait_for_jobs by now (either way must work)
    return waiter


def test_enqueue_in_this_process_wakes_a_waiter_at_once(storage: SQLiteStorage) -> None:
    waiter = _start_waiting(storage, ["default"])
    enqueued_at = time.monotonic()
    create(storage)
    waiter.join()
    assert waiter.woke_at - enqueued_at < FAST


def test_an_enqueue_between_fetch_and_wait_is_not_lost(storage: SQLiteStorage) -> None:
    assert storage.fetch_next(["default"], SERVER, WORKER, at(0)) is None
    create(storage)  # after the look, before the wait: the wait must not sleep through it
    started = time.monotonic()
    storage.wait_for_jobs(["default"], 5.0)
    assert time.monotonic() - started < FAST


def _prepare_orphan(storage: SQLiteStorage) -> Callable[[], object]:
    create(storage)
    assert storage.fetch_next(["default"], "dead-server", WORKER, at(1)) is not None
    return lambda: storage.requeue_orphaned_jobs(at(2), 10)


def _prepare_continuation(storage: SQLiteStorage) -> Callable[[], object]:
    parent = create(storage, "parents")
    create(storage, state="Awaiting", parent_id=parent)
    return lambda: change(storage, parent, Succeeded(), at(2), release_continuations=True)


def _prepare_scheduled(storage: SQLiteStorage) -> Callable[[], object]:
    job_id = create(storage, state="Scheduled", run_at=at(60))
    return lambda: change(storage, job_id, Enqueued(), at(2), queue="default")


def _prepare_due(storage: SQLiteStorage) -> Callable[[], object]:
    create(storage, state="Scheduled", run_at=at(5))
    return lambda: storage.enqueue_due_scheduled(at(10), 10)


def _prepare_recurring(storage: SQLiteStorage) -> Callable[[], object]:
    storage.save_recurring(make_recurring("nightly", next_run=at(60)))
    return lambda: storage.fire_recurring("nightly", at(60), at(120), [make_job()], at(60))


@pytest.mark.parametrize(
    "prepare",
    [
        lambda storage: lambda: create(storage),
        _prepare_scheduled,
        _prepare_due,
        _prepare_orphan,
        _prepare_continuation,
        _prepare_recurring,
    ],
    ids=["created", "changed", "due", "orphan", "continuation", "recurring"],
)
def test_every_way_into_enqueued_wakes_waiters(
    storage: SQLiteStorage, prepare: Callable[[SQLiteStorage], Callable[[], object]]
) -> None:
    trigger = prepare(storage)
    waiter = _start_waiting(storage, ["default"])
    enqueued_at = time.monotonic()
    trigger()
    waiter.join()
    assert waiter.woke_at - enqueued_at < FAST
    assert storage.fetch_next(["default"], SERVER, WORKER, at(3)) is not None


def test_a_waiter_sleeps_through_enqueues_on_other_queues(storage: SQLiteStorage) -> None:
    waiter = _start_waiting(storage, ["mail"], timeout=0.4)
    create(storage, "default")
    waiter.join()
    assert waiter.waited >= 0.3


def test_storages_of_one_file_in_one_process_wake_each_other(
    storage: SQLiteStorage, sqlite_url: str
) -> None:
    other = SQLiteStorage.from_url(f"{sqlite_url}?poll_interval={SLOW_POLL}")
    try:
        waiter = _start_waiting(storage, ["default"])
        enqueued_at = time.monotonic()
        create(other)
        waiter.join()
        assert waiter.woke_at - enqueued_at < FAST
    finally:
        other.close()


_OTHER_PROCESS = textwrap.dedent(
    """
    import sys, time
    from stoker.storage import open_storage
    from stoker.testing.contract_support import at, make_job, make_server
    storage = open_storage(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    storage.announce_server(make_server("busy-elsewhere"))  # writes that enqueue nothing
    for n in range(5):
        storage.heartbeat("busy-elsewhere", at(n))
        time.sleep(0.05)
    creating_at = time.time()  # before: the waiter cannot see the job any earlier
    storage.create_jobs([make_job()])
    print(creating_at, flush=True)
    storage.close()
    """
)


@pytest.mark.slow
def test_enqueue_in_another_process_wakes_a_waiter_within_the_poll_interval(
    sqlite_url: str,
) -> None:
    waiting = SQLiteStorage.from_url(f"{sqlite_url}?poll_interval=0.05")
    child = subprocess.Popen(
        [sys.executable, "-c", _OTHER_PROCESS, sqlite_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        assert waiting.fetch_next(["default"], SERVER, WORKER, at(0)) is None
        child.stdin.write("go\n")
        child.stdin.flush()
        started = time.monotonic()
        waiting.wait_for_jobs(["default"], 10.0)
        woke_at = time.time()
        waited = time.monotonic() - started
        creating_at = float(child.stdout.readline())
        assert child.wait(timeout=30) == 0
        # Not woken by the other process's heartbeats, only by its enqueue, and soon after.
        assert woke_at >= creating_at
        assert woke_at - creating_at < 1.0
        assert waited < 10.0
        assert waiting.fetch_next(["default"], SERVER, WORKER, at(1)) is not None
    finally:
        child.kill()
        child.wait()
        waiting.close()
