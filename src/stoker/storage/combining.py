"""Flat combining: the requests of concurrent threads run as one batch by one of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")


class _Slot(Generic[R, T]):
    __slots__ = ("done", "error", "lead", "request", "result")

    def __init__(self, request: R) -> None:
        self.request = request
        self.done = threading.Event()
        self.lead = False  # woken to run the next batch rather than with a result
        self.result: T | None = None
        self.error: BaseException | None = None


class Combiner(Generic[R, T]):
    """Runs `run_batch` over the requests that pile up while a batch is in flight.

    A caller that finds no batch in flight runs its own request at once (alone, so an idle
    server pays no extra latency). Callers that arrive meanwhile wait; when the batch ends,
    its runner hands the lead to the oldest waiter, which runs every waiting request (up to
    `max_batch`) as the next batch, and returns. So each caller still gets its own outcome
    before it goes on, exactly as with one call each, but N concurrent callers cost one round
    trip and one commit instead of N. `run_batch` returns one result per request, in order;
    if it raises, every request of that batch gets the exception (the caller then retries
    alone, as it would after any failed call).
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[R]], list[T]],
        max_batch: int = 64,
        max_in_flight: int = 1,
        gather_seconds: float = 0.0,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max(1, max_batch)
        self._max_in_flight = max(1, max_in_flight)
        self._gather = gather_seconds
        self._lock = threading.Condition()
        self._waiting: list[_Slot[R, T]] = []
        self._in_flight = 0
        self._last_size = 0
        self._last_end = float("-inf")

    def submit(self, request: R) -> T:
        slot: _Slot[R, T] = _Slot(request)
        with self._lock:
            self._waiting.append(slot)
            self._lock.notify()
            leads = self._in_flight < self._max_in_flight
            if leads:
                self._in_flight += 1
        if not leads:
            slot.done.wait()
            if not slot.lead:
                return self._outcome(slot)
        self._lead()
        return self._outcome(slot)

    def _lead(self) -> None:
        """Run the waiting requests as one batch, then pass the lead on (or give it up)."""
        with self._lock:
            self._gather_callers()
            batch = self._waiting[: self._max_batch]
            del self._waiting[: self._max_batch]
        try:
            results = self._run_batch([slot.request for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} requests gave {len(results)} results")
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as exc:  # every member learns the batch failed, then re-raised
            for slot in batch:
                slot.error = exc
        finally:
            with self._lock:
                self._last_size, self._last_end = len(batch), time.monotonic()
            self._pass_lead()
            for slot in batch:
                slot.lead = False
                slot.done.set()

    def _gather_callers(self) -> None:
        """Wait (briefly) for the members of the last batch to come back.

        The members of a batch all get their results at once, run their next job, and come
        back one after another. Without this, the first one back finds nothing in flight and
        goes alone, the rest pile up behind it, and batches alternate between 1 and N-1:
        twice the statements for the same work. A caller arriving long after the last batch
        (an idle server) does not wait at all."""
        deadline = self._last_end + self._gather
        while len(self._waiting) < min(self._last_size, self._max_batch):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._lock.wait(left)

    def _pass_lead(self) -> None:
        with self._lock:
            if not self._waiting:
                self._in_flight -= 1
                return
            successor = self._waiting[0]
        # The successor is still waiting on its event (it cannot be in this batch: the batch
        # was taken out of the list before it ran).
        successor.lead = True
        successor.done.set()

    @staticmethod
    def _outcome(slot: _Slot[R, T]) -> T:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set whenever error is None
