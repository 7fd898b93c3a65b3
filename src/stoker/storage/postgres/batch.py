"""Batched worker steps on PostgreSQL: concurrent outcomes and claims in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stoker.core.records import StateChange
from stoker.storage.common.worker_steps import CombinedSteps, Step, StepResult
from stoker.storage.postgres.db import Conn, PostgresBase, parse_job_id
from stoker.storage.postgres.params import (
    change_states_params,
    claim_params,
    fetched_job,
    release_params,
)


class BatchedSteps(CombinedSteps, PostgresBase):
    """Batched worker steps on PostgreSQL (see CombinedSteps): the outcomes of a batch are one
    CHANGE_STATES statement, its claims one FETCH_MANY, pipelined under one Sync (one round
    trip, one transaction, one commit)."""

    def _run_steps(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult]:
        job_ids = [_job_number(step) for step in steps if step.change is not None]
        if None in job_ids or len(set(job_ids)) != len(job_ids):
            # (Never from a worker) a foreign id, or two outcomes for one job in one batch.
            return [self._run_alone(queues, server_id, step) for step in steps]
        return self._run_batch(queues, server_id, steps)

    def _run_alone(self, queues: tuple[str, ...], server_id: str, step: Step) -> StepResult:
        """A step that cannot share a batch: its change on its own, then its claim."""
        applied = step.change is not None and self.change_state(step.change)
        if not queues:
            return applied, None
        (_, fetched) = self._run_batch(queues, server_id, [Step(step.worker_id, step.now)])[0]
        return applied, fetched

    def change_state(self, change: StateChange) -> bool:
        job_id = parse_job_id(change.job_id)
        if job_id is None:
            return False
        changes = [(change, job_id)]
        params = change_states_params(changes)
        row = self._db.run(
            lambda conn: conn.execute(self._q["change_states"], params).fetchone(),
            idempotent=False,
        )
        if row is not None:
            self._resolve_descendants(row, changes)
        self._give_back_slots([change])
        return row is not None

    def _run_batch(
        self, queues: tuple[str, ...], server_id: str, steps: Sequence[Step]
    ) -> list[StepResult]:
        changes = [(s.change, int(s.change.job_id)) for s in steps if s.change is not None]
        workers, nows = [step.worker_id for step in steps], [step.now for step in steps]
        claim = claim_params(queues, server_id, workers, nows) if queues else None
        change_args = change_states_params(changes) if changes else None

        def body(conn: Conn) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            # Pipelined: both statements go out together followed by ONE Sync, sent when the
            # block ends, so they run in one implicit transaction (an error in the changes
            # skips the claims) and cost one round trip. Results are read only after the
            # block: a fetch inside it would ask the server for them with a Flush first, a
            # second round trip. The claims' SKIP LOCKED never waits on the rows the changes
            # locked, so the two cannot deadlock each other.
            with conn.pipeline():
                changed = conn.execute(self._q["change_states"], change_args) if changes else None
                claimed = conn.execute(self._q["fetch_many"], claim) if claim else None
            return (changed.fetchall() if changed else []), (claimed.fetchall() if claimed else [])

        changed, claimed = self._db.run(body, idempotent=False)
        applied = {int(row[0]) for row in changed}
        for row in changed:
            self._resolve_descendants(row, changes)
        self._give_back_slots([change for change, _ in changes])
        jobs = {int(row[9]): fetched_job(row) for row in claimed}
        return [
            (_job_number(step) in applied, jobs.get(number))
            for number, step in enumerate(steps, start=1)
        ]

    def _give_back_slots(self, changes: Sequence[StateChange]) -> None:
        """StateChange.release_slot, after the changes (whether or not they applied): on
        PostgreSQL a step of its own per limited job, one round trip unless a waiter is
        enqueued (see PostgresLimits.release_slot)."""
        for change in changes:
            if change.release_slot is not None and change.expected_state_id is not None:
                key, state_id = change.release_slot, change.expected_state_id
                self.release_slot(key, change.job_id, state_id, change.state.created_at)

    if TYPE_CHECKING:  # PostgresLimits's

        def release_slot(self, key: str, job_id: str, state_id: int, now: datetime) -> int: ...

    def _resolve_descendants(
        self, row: tuple[Any, ...], changes: Sequence[tuple[StateChange, int]]
    ) -> None:
        """The rare follow-ups of one applied change (a CHANGE_STATES row): the children
        created while it waited for the parent's lock (row[2]), and the children of the
        children it deleted (row[3]), and so on down, in one transaction."""
        job_id, late, deleted = int(row[0]), bool(row[2]), list(row[3] or ())
        if not late and not deleted:
            return
        change = next(change for change, number in changes if number == job_id)
        work: list[tuple[int, str | None]] = [(job_id, None)] if late else []
        work += [(int(kid), "Deleted") for kid in deleted]

        def body(conn: Conn) -> None:
            pending = list(work)
            while pending:
                parent, state = pending.pop()
                params = release_params(change, parent, state)
                for kid, _, kid_state in conn.execute(self._q["release_children"], params):
                    if kid_state == "Deleted":  # its own children are resolved in turn
                        pending.append((int(kid), "Deleted"))

        self._db.run(body, transaction=True)


def _job_number(step: Step) -> int | None:
    """The numeric id of the job whose outcome the step stores (None: no change, or not an id
    this storage could have issued)."""
    return parse_job_id(step.change.job_id) if step.change is not None else None
