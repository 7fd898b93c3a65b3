"""Batched worker steps on PostgreSQL: concurrent outcomes and claims in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from stoker.storage.base import FINAL_STATES, FetchedJob, StateChange
from stoker.storage.postgres_db import Conn, PostgresBase, parse_job_id
from stoker.storage.postgres_params import (
    CONTINUATION_MET,
    CONTINUATION_NOT_MET,
    change_params,
    claim_params,
    dumps,
    fetched_job,
)
from stoker.storage.worker_steps import CombinedSteps, Step, StepResult

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


class BatchedSteps(CombinedSteps, PostgresBase):
    """Batched worker steps on PostgreSQL (see CombinedSteps): the outcomes of a batch are one
    CHANGE_STATES statement, its claims one FETCH_MANY, pipelined under one Sync (one round
    trip, one transaction, one commit)."""

    def _run_steps(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult]:
        job_ids = [_job_number(step) for step in steps if step.change is not None]
        if len(steps) == 1 or None in job_ids or len(set(job_ids)) != len(job_ids):
            # Alone, or (never from a worker) a foreign id or two outcomes for one job.
            return [self._run_step(queues, server_id, step) for step in steps]
        return self._run_batch(queues, server_id, steps)

    def _run_step(self, queues: tuple[str, ...], server_id: str, step: Step) -> StepResult:
        job_id = _job_number(step)
        if step.change is None or job_id is None:
            applied = step.change is not None and self.change_state(step.change)
            return applied, self._fetch_one(queues, server_id, step.worker_id, step.now)
        return self._finish_and_fetch_one(step.change, job_id, queues, server_id, step)

    def _run_batch(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult]:
        changes = [(s.change, int(s.change.job_id)) for s in steps if s.change is not None]
        workers, nows = [step.worker_id for step in steps], [step.now for step in steps]
        claim = claim_params(queues, server_id, workers, nows)
        change_args = change_states_params(changes) if changes else None

        def body(conn: Conn) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            # One Sync for both statements: one implicit transaction, one round trip (see
            # _finish_and_fetch_one); results are read after the pipeline block.
            with conn.pipeline():
                changed = conn.execute(self._q["change_states"], change_args) if changes else None
                claimed = conn.execute(self._q["fetch_many"], claim)
            return (changed.fetchall() if changed else []), claimed.fetchall()

        changed, claimed = self._db.run(body, idempotent=False)
        applied = {int(row[0]) for row in changed}
        for row in changed:
            if row[2]:  # a child was created while the change waited for the parent's lock
                self._release_late_children(int(row[0]), changes)
        jobs = {int(row[9]): fetched_job(row) for row in claimed}
        return [
            (_job_number(step) in applied, jobs.get(number))
            for number, step in enumerate(steps, start=1)
        ]

    def _release_late_children(
        self, job_id: int, changes: Sequence[tuple[StateChange, int]]
    ) -> None:
        change = next(change for change, number in changes if number == job_id)
        params = {**change_params(change, job_id), "parent_id": job_id}
        self._db.run(lambda conn: conn.execute(self._q["release_children"], params))

    def _fetch_one(
        self, queues: Sequence[str], server_id: str, worker_id: str, now: datetime
    ) -> FetchedJob | None:
        params = claim_params(queues, server_id, [worker_id], [now])
        row = self._db.run(
            lambda conn: conn.execute(self._q["fetch_many"], params).fetchone(),
            idempotent=False,
        )
        return fetched_job(row)

    def _finish_and_fetch_one(
        self,
        change: StateChange,
        job_id: int,
        queues: Sequence[str],
        server_id: str,
        step: Step,
    ) -> StepResult:
        one_change = change_params(change, job_id)
        name = "change_state_release" if change.release_continuations else "change_state"
        claim = claim_params(queues, server_id, [step.worker_id], [step.now])

        def body(conn: Conn) -> tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]:
            # Pipelined: both statements go out together followed by ONE Sync, sent when the
            # block ends, so they run in one implicit transaction (an error in the change
            # skips the claim) and cost one round trip. Results are read only after the block:
            # a fetchone() inside it would ask the server for them with a Flush first, which
            # is a second round trip. The claim's SKIP LOCKED never waits on the row the
            # change locked, so the two cannot deadlock each other.
            with conn.pipeline():
                changed = conn.execute(self._q[name], one_change)
                claimed = conn.execute(self._q["fetch_many"], claim)
            return changed.fetchone(), claimed.fetchone()

        changed, claimed = self._db.run(body, idempotent=False)
        if changed is not None and change.release_continuations and changed[2]:
            # A child was created while this change waited for the parent's row lock.
            self._execute("release_children", {**one_change, "parent_id": job_id})
        return changed is not None, fetched_job(claimed)


def _job_number(step: Step) -> int | None:
    """The numeric id of the job whose outcome the step stores (None: no change, or not an id
    this storage could have issued)."""
    return parse_job_id(step.change.job_id) if step.change is not None else None
