"""Batched worker steps on PostgreSQL: concurrent outcomes and claims in one round trip."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stoker.storage.base import FINAL_STATES, FetchedJob, StateChange
from stoker.storage.combining import Combiner
from stoker.storage.postgres_db import Conn, PostgresBase, parse_job_id
from stoker.storage.postgres_params import (
    CONTINUATION_MET,
    CONTINUATION_NOT_MET,
    change_params,
    dumps,
    fetch_params,
    fetched_job,
)

StepResult = tuple[bool, FetchedJob | None]
# How long a batch may wait for the workers of the previous batch to come back (see
# Combiner): measured with no-op jobs, it turns batches alternating 1, N-1 into batches of N.
# An idle server never waits (its last batch ended long ago).
GATHER_SECONDS = 0.002


@dataclass(frozen=True)
class Step:
    """One worker's call: store `change` (if any) on job `job_id`, then claim a job."""

    worker_id: str
    now: datetime
    change: StateChange | None = None
    job_id: int = 0


_CHANGE_COLUMNS = (
    "id", "expected", "state_id", "name", "reason", "data", "at", "queue", "run_at",
    "expire_at", "server_id", "params", "final", "release", "enqueued_reason",
    "deleted_expire_at",
)  # fmt: skip


def _change_row(change: StateChange, job_id: int) -> tuple[Any, ...]:
    state = change.state
    return (
        job_id,
        ",".join(change.expected_states) if change.expected_states else None,
        change.expected_state_id,
        state.name,
        state.reason,
        dumps(dict(state.data)),
        state.created_at,
        change.queue,
        change.run_at if state.name == "Scheduled" else None,
        change.expire_at,
        state.data.get("server_id") if state.name == "Processing" else None,
        dumps(dict(change.params)),
        state.name in FINAL_STATES,
        change.release_continuations,
        CONTINUATION_MET % (change.job_id, state.name),
        change.deleted_children_expire_at,
    )


def change_states_params(changes: Sequence[tuple[StateChange, int]]) -> dict[str, Any]:
    """Column arrays of CHANGE_STATES; counters as one JSON array tagged with their job."""
    rows = [_change_row(change, job_id) for change, job_id in changes]
    params: dict[str, Any] = {
        name: list(values)
        for name, values in zip(_CHANGE_COLUMNS, zip(*rows, strict=True), strict=True)
    }
    counters = [
        {
            "j": job_id,
            "k": inc.key,
            "b": inc.by,
            "e": inc.expire_at.isoformat() if inc.expire_at is not None else None,
        }
        for change, job_id in changes
        for inc in change.counters
    ]
    params["counters"] = dumps(counters)
    params["deleted_reason"] = CONTINUATION_NOT_MET
    return params


class BatchedSteps(PostgresBase):
    """`finish_and_fetch` and `fetch_next` of concurrent workers, combined per server.

    A server's workers all call these between jobs. Run one by one, N workers cost N round
    trips, N statements of each kind and N commits (each commit waits for a WAL flush); a
    combined batch costs one of each. While a batch is in flight, the workers that arrive
    wait and then go together as the next one (see Combiner); a worker that arrives with
    nothing in flight goes alone at once, so an idle server keeps its latency."""

    _combiners: dict[tuple[tuple[str, ...], str], Combiner[Step, StepResult]]
    _combiners_lock: threading.Lock

    def _combiner(self, queues: Sequence[str], server_id: str) -> Combiner[Step, StepResult]:
        key = (tuple(queues), server_id)
        found = self._combiners.get(key)
        if found is None:
            with self._combiners_lock:
                found = self._combiners.get(key)
                if found is None:
                    found = Combiner(
                        lambda steps: self._run_steps(key[0], key[1], steps),
                        gather_seconds=GATHER_SECONDS,
                    )
                    self._combiners[key] = found
        return found

    def _run_steps(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult]:
        job_ids = [step.job_id for step in steps if step.change is not None]
        if len(steps) == 1 or len(set(job_ids)) != len(job_ids):
            # Alone, or (never in practice) two outcomes for one job: the one-job statements.
            return [self._run_step(queues, server_id, step) for step in steps]
        return self._run_batch(queues, server_id, steps)

    def _run_step(self, queues: tuple[str, ...], server_id: str, step: Step) -> StepResult:
        if step.change is None:
            return False, self._fetch_one(queues, server_id, step.worker_id, step.now)
        return self._finish_and_fetch_one(step.change, queues, server_id, step.worker_id, step.now)

    def _run_batch(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult]:
        changes = [(step.change, step.job_id) for step in steps if step.change is not None]
        claim = {
            "queues": ",".join(queues),
            "server_id": server_id,
            "n": len(steps),
            "worker_ids": [step.worker_id for step in steps],
            "nows": [step.now for step in steps],
        }
        change_args = change_states_params(changes) if changes else None

        def body(conn: Conn) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            # One Sync for both statements: one implicit transaction, one round trip (see
            # JobWrites.finish_and_fetch); results are read after the pipeline block.
            with conn.pipeline():
                changed = conn.execute(self._q["change_states"], change_args) if changes else None
                claimed = conn.execute(self._q["fetch_many"], claim)
            return (changed.fetchall() if changed else []), claimed.fetchall()

        changed, claimed = self._db.run(body, idempotent=False)
        applied = {int(row[0]) for row in changed}
        for row in changed:
            if row[2]:  # a child was created while the change waited for the parent's lock
                self._release_late_children(int(row[0]), steps)
        jobs = {int(row[9]): fetched_job(row) for row in claimed}
        return [
            (step.change is not None and step.job_id in applied, jobs.get(number))
            for number, step in enumerate(steps, start=1)
        ]

    def _release_late_children(self, job_id: int, steps: Sequence[Step]) -> None:
        step = next(s for s in steps if s.change is not None and s.job_id == job_id)
        assert step.change is not None
        params = {**change_params(step.change, job_id), "parent_id": job_id}
        self._db.run(lambda conn: conn.execute(self._q["release_children"], params))

    def _fetch_one(
        self, queues: Sequence[str], server_id: str, worker_id: str, now: datetime
    ) -> FetchedJob | None:
        params = fetch_params(queues, server_id, worker_id, now)
        row = self._db.run(
            lambda conn: conn.execute(self._q["fetch_next"], params).fetchone(),
            idempotent=False,
        )
        return fetched_job(row)

    def _finish_and_fetch_one(
        self,
        change: StateChange,
        queues: Sequence[str],
        server_id: str,
        worker_id: str,
        now: datetime,
    ) -> StepResult:
        job_id = parse_job_id(change.job_id)
        assert job_id is not None  # checked by the caller
        one_change = change_params(change, job_id)
        name = "change_state_release" if change.release_continuations else "change_state"
        claim = fetch_params(queues, server_id, worker_id, now)

        def body(conn: Conn) -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]:
            # Pipelined: both statements go out together followed by ONE Sync, sent when the
            # block ends, so they run in one implicit transaction (an error in the change
            # skips the claim) and cost one round trip. Results are read only after the block:
            # a fetchone() inside it would ask the server for them with a Flush first, which
            # is a second round trip. The claim's SKIP LOCKED never waits on the row the
            # change locked, so the two cannot deadlock each other.
            with conn.pipeline():
                changed = conn.execute(self._q[name], one_change)
                claimed = conn.execute(self._q["fetch_next"], claim)
            return changed.fetchone(), claimed.fetchone()

        changed, claimed = self._db.run(body, idempotent=False)
        if changed is not None and change.release_continuations and changed[2]:
            # A child was created while this change waited for the parent's row lock.
            self._execute("release_children", {**one_change, "parent_id": job_id})
        return changed is not None, fetched_job(claimed)
