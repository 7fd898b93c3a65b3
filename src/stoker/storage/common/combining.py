"""Flat combining: the requests of concurrent threads run as one batch by one of them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")


class _Slot(Generic[R, T]):
    __slots__ = ("error", "gate", "lead", "request", "result")

    def __init__(self, request: R) -> None:
        self.request = request
        # Held from the start; released exactly once to wake the waiting caller. A bare lock
        # is the cheapest wake-up CPython has (an Event is a Condition and two locks), and
        # a wake-up per job per worker is on the hot path.
        self.gate = threading.Lock()
        self.gate.acquire()
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
    trip and one commit instead of N. `run_batch` returns one result per request, in order
    (an exception instance in a request's place is raised to that caller alone); if it
    raises, every request of that batch gets the exception (the caller then retries alone,
    as it would after any failed call).
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[R]], Sequence[T | BaseException]],
        max_batch: int = 64,
        gather_seconds: float = 0.0,
        max_in_flight: int = 1,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max(1, max_batch)
        self._gather = gather_seconds
        self._max_in_flight = max(1, max_in_flight)
        self._lock = threading.Condition()
        self._waiting: list[_Slot[R, T]] = []  # callers blocked on their gate, oldest first
        self._in_flight = 0  # batches being gathered or run
        self._last_size = 0
        self._last_end = float("-inf")
        self._gathering = 0  # leaders waiting in _gather_callers

    def submit(self, request: R) -> T:
        slot: _Slot[R, T] = _Slot(request)
        with self._lock:
            leads = self._in_flight < self._max_in_flight
            if leads:
                self._in_flight += 1
            else:
                self._waiting.append(slot)
                if self._gathering:
                    self._lock.notify_all()  # a gathering leader counts the waiters
        if not leads:
            slot.gate.acquire()  # until a result, or the lead, is handed over
            if not slot.lead:
                return self._outcome(slot)
        self._lead(slot)
        return self._outcome(slot)

    def _lead(self, own: _Slot[R, T]) -> None:
        """Run `own` and the waiting requests as one batch, then pass the lead on (or give it
        up). A leader's own slot is never in the waiting list, so no other leader can take it."""
        with self._lock:
            self._gather_callers()
            taken = self._waiting[: self._max_batch - 1]
            del self._waiting[: self._max_batch - 1]
        batch = [own, *taken]
        try:
            results = self._run_batch([slot.request for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} requests gave {len(results)} results")
            for slot, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    slot.error = result  # this request alone failed
                else:
                    slot.result = result
        except BaseException as exc:  # every member learns the batch failed, then re-raised
            for slot in batch:
                slot.error = exc
        finally:
            self._pass_lead(len(batch))
            for slot in taken:  # blocked on their gate until now
                slot.gate.release()

    def _gather_callers(self) -> None:
        """Wait (briefly) for the members of the last batch to come back.

        The members of a batch all get their results at once, run their next job, and come
        back one after another. Without this, the first one back finds nothing in flight and
        goes alone, the rest pile up behind it, and batches alternate between 1 and N-1:
        twice the statements for the same work. A caller arriving long after the last batch
        (an idle server) does not wait at all."""
        deadline = self._last_end + self._gather
        while len(self._waiting) + 1 < min(self._last_size, self._max_batch):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._gathering += 1
            try:
                self._lock.wait(left)
            finally:
                self._gathering -= 1

    def _pass_lead(self, batch_size: int) -> None:
        with self._lock:
            self._last_size, self._last_end = batch_size, time.monotonic()
            if not self._waiting:
                self._in_flight -= 1
                return
            successor = self._waiting.pop(0)
        successor.lead = True
        successor.gate.release()

    @staticmethod
    def _outcome(slot: _Slot[R, T]) -> T:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set whenever error is None
