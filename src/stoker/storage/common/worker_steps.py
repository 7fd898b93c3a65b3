"""A server's worker steps (outcome + next claim) combined into batches, for any storage."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from stoker.core.records import FetchedJob, StateChange
from stoker.storage.common.combining import Combiner

StepResult = tuple[bool, FetchedJob | None]


@dataclass(frozen=True)
class Step:
    """One worker's call: store `change` (if any), then claim a job for `worker_id`."""

    worker_id: str
    now: datetime
    change: StateChange | None = None


class CombinedSteps(ABC):
    """`fetch_next` and `finish_and_fetch` of concurrent workers, run as batches.

    A server's workers all call these between jobs. Run one by one, N workers cost N round
    trips (and, on PostgreSQL, N commits, each waiting for a WAL flush); a batch costs one.
    Workers that arrive while a batch is in flight wait and go together as the next batch
    (see Combiner); one that arrives with nothing in flight goes at once, so an idle server
    keeps its latency. Each worker still gets its own outcome and its own claimed job before
    it goes on, so at-least-once and the fencing of outcomes are exactly as with single calls.
    Batches are per (queues, server): a batch claims for one server's queue order; steps with
    no queues (outcomes alone) form batches of their own, which claim nothing."""

    # How long a batch may wait for the members of the previous batch to come back (see
    # Combiner): measured with no-op jobs, it turns batches alternating 1, N-1 into batches
    # of N. An idle server never waits (its last batch ended long ago).
    # Measured (benchmarks/README.md): 2 ms beat 0 and 1 ms, and one batch in flight per
    # server beat two (two in flight split the workers into smaller batches).
    gather_seconds = 0.002

    _combiners: dict[tuple[tuple[str, ...], str], Combiner[Step, StepResult]]
    _combiners_lock: threading.Lock

    def _init_steps(self) -> None:
        self._combiners = {}
        self._combiners_lock = threading.Lock()

    def fetch_next(
        self, queues: Sequence[str], server_id: str, worker_id: str, now: datetime
    ) -> FetchedJob | None:
        if not queues:
            return None
        _, fetched = self._combiner(queues, server_id).submit(Step(worker_id, now))
        return fetched

    def finish_and_fetch(
        self,
        change: StateChange,
        queues: Sequence[str],
        server_id: str,
        worker_id: str,
        now: datetime,
    ) -> StepResult:
        # Without queues (the outcome of an async job, stored by a finisher thread) nothing is
        # claimed, but concurrent outcomes still go to the storage together.
        return self._combiner(queues, server_id).submit(Step(worker_id, now, change))

    @abstractmethod
    def change_state(self, change: StateChange) -> bool:
        """The storage's compare-and-set state change (see Storage.change_state)."""

    @abstractmethod
    def _run_steps(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> Sequence[StepResult | BaseException]:
        """Run the steps (in order, as if one after another); one result per step, or the
        exception that step alone failed with."""

    def _combiner(self, queues: Sequence[str], server_id: str) -> Combiner[Step, StepResult]:
        key = (tuple(queues), server_id)
        found = self._combiners.get(key)
        if found is None:
            with self._combiners_lock:
                found = self._combiners.get(key)
                if found is None:
                    found = Combiner(
                        lambda steps: self._run_steps(key[0], key[1], steps),
                        gather_seconds=self.gather_seconds,
                    )
                    self._combiners[key] = found
        return found
