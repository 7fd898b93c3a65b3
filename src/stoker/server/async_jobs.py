"""AsyncJobs: `async def` jobs in flight on a server's event loop, at most `concurrency` at once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from stoker.core.log_fields import log_fields

log = logging.getLogger("stoker.server")


class AsyncJobs:
    """Slots for the async jobs a server's workers hand to its event loop, and the threads
    that store their outcomes.

    A worker that fetched an async job takes a slot, starts the job as a task and goes back to
    fetching: the job holds no thread while it awaits. When the task ends, a finisher thread
    stores its outcome (the event loop never waits for the storage) and frees the slot. With
    every slot taken, a worker that fetched an async job waits for one before it fetches
    again, so at most `concurrency` async jobs run, plus one held by each waiting worker.
    """

    def __init__(self, concurrency: int, finishers: int, server_id: str | None = None) -> None:
        self._fields = log_fields(server_id)
        self._slots = threading.Semaphore(concurrency)
        self._idle = threading.Condition()
        self._in_flight = 0
        self._finishers = ThreadPoolExecutor(finishers, thread_name_prefix="stoker-finisher")

    def take_slot(self, give_up: threading.Event) -> bool:
        """Wait for a free slot; False if `give_up` is set first (the server is killed)."""
        while not self._slots.acquire(timeout=0.1):
            if give_up.is_set():
                return False
        if give_up.is_set():  # a slot freed by the shutdown itself: the job was given back
            self._slots.release()
            return False
        with self._idle:
            self._in_flight += 1
        return True

    def free_slot(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()
        self._slots.release()

    def finish_later(self, finish: Callable[[], None], release: Callable[[], None]) -> None:
        """Run `finish` (store an ended job's outcome, then `release` it: slot, share,
        tracking) on a finisher thread. Called on the event loop, which must not wait for the
        storage, or by whoever cancelled the job."""
        try:
            self._finishers.submit(finish)
        except RuntimeError:  # closed: the server shut down, and gave its jobs back already
            log.debug("server closed; an async job's late outcome is dropped", extra=self._fields)
            release()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no async job is in flight, at most `timeout` seconds; True if none is."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
            return True

    def close(self) -> None:
        """No more outcomes are stored (the server is shutting down)."""
        self._finishers.shutdown(wait=False, cancel_futures=True)
