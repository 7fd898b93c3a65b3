"""Batches on PostgreSQL: created with their jobs, finished from their counts, and read back.

A member's moves are counted by a trigger (schema migration 5) in the same statement as the
move, whoever makes it; finish_batches locks each done batch's row and compare-and-sets its
finished_at, so it finishes once however many servers call it, and releases the batch's
continuations with CHANGE_STATES in that same transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stoker.core.batches import (
    BatchRecord,
    NewBatch,
    batch_outcome,
    continuation_record,
    is_finished,
)
from stoker.core.errors import BatchNotFoundError
from stoker.core.records import JobRecord, NewJob, StateChange
from stoker.core.states import STATE_NAMES
from stoker.storage.postgres.db import Conn, PostgresBase
from stoker.storage.postgres.monitor import job_record
from stoker.storage.postgres.params import change_states_params

Applied = tuple[list[tuple[Any, ...]], list[tuple[StateChange, int]]]


def _counts(found: Mapping[str, Any] | None) -> dict[str, int]:
    counts = dict.fromkeys(STATE_NAMES, 0)
    counts.update({state: int(n) for state, n in (found or {}).items()})
    return counts


def _batch_record(row: Sequence[Any]) -> BatchRecord:
    return BatchRecord(
        id=row[0],
        description=row[1],
        created_at=row[2],
        total=int(row[3]),
        counts=_counts(row[6]),
        finished_at=row[4],
        outcome=row[5],
        continuations=tuple(str(job_id) for job_id in row[7] or ()),
    )


class PostgresBatches(PostgresBase):
    """The batch steps and reads of the storage contract."""

    if TYPE_CHECKING:  # PostgresJobWrites's and BatchedSteps's

        def _insert_jobs(self, conn: Conn, jobs: Sequence[NewJob]) -> list[str]: ...

        def _resolve_descendants(
            self, row: tuple[Any, ...], changes: Sequence[tuple[StateChange, int]]
        ) -> None: ...

    def create_batch(self, batch: NewBatch, jobs: Sequence[NewJob]) -> list[str]:
        def body(conn: Conn) -> list[str]:
            members = sum(1 for job in jobs if job.batch_id == batch.id)
            values = {
                "id": batch.id,
                "description": batch.description,
                "created_at": batch.created_at,
                "total": members,
            }
            if conn.execute(self._q["insert_batch"], values).fetchone() is None:
                raise ValueError(f"batch {batch.id} already exists")
            ids = self._insert_split(conn, batch.id, jobs)
            pairs = list(zip(ids, jobs, strict=True))
            joined = [int(i) for i, job in pairs if job.batch_id == batch.id]
            waiting = [int(i) for i, job in pairs if job.awaits_batch == batch.id]
            if joined:
                conn.execute(self._q["join_batch"], {"batch": batch.id, "ids": joined})
            self._add_continuations(conn, batch.id, waiting, [])
            return ids

        return self._db.run(body, transaction=True, idempotent=False)

    def _insert_split(self, conn: Conn, batch_id: str, jobs: Sequence[NewJob]) -> list[str]:
        """Insert the members, then the other jobs (continuations), and return the ids in the
        order of `jobs`: the members of one `enqueue_many` then go as one uniform statement
        (two arrays, not fifteen), which a continuation among them would prevent."""
        members = [index for index, job in enumerate(jobs) if job.batch_id == batch_id]
        others = [index for index, job in enumerate(jobs) if job.batch_id != batch_id]
        ids: list[str] = [""] * len(jobs)
        for indexes in (members, others):
            if indexes:
                made = self._insert_jobs(conn, [jobs[index] for index in indexes])
                for index, job_id in zip(indexes, made, strict=True):
                    ids[index] = job_id
        return ids

    def _add_continuations(
        self, conn: Conn, batch_id: str, ids: list[int], expiring: list[int]
    ) -> None:
        if ids:
            params = {"batch": batch_id, "ids": ids, "expiring": expiring}
            conn.execute(self._q["add_continuations"], params)

    def continue_batch(self, job: NewJob) -> str:
        batch_id = str(job.awaits_batch)

        def body(conn: Conn) -> str:
            found = conn.execute(self._q["batch_state"], {"id": batch_id}).fetchone()
            if found is None:
                raise BatchNotFoundError(batch_id)
            finished_at, outcome = found
            created, deleted = job, False
            if finished_at is not None:
                at = job.state.created_at
                record, deleted = continuation_record(
                    batch_id, outcome, job.on_states, job.queue, at
                )
                created = replace(job, state=record)
            (job_id,) = self._insert_jobs(conn, [created])
            expiring = [int(job_id)] if deleted else []
            self._add_continuations(conn, batch_id, [int(job_id)], expiring)
            return job_id

        return self._db.run(body, transaction=True, idempotent=False)

    def finish_batches(self, now: datetime, limit: int) -> list[str]:
        def body(conn: Conn) -> tuple[list[str], Applied]:
            finished: list[str] = []
            applied: Applied = ([], [])
            done = conn.execute(self._q["done_batches"], {"limit": max(0, limit)}).fetchall()
            for batch_id, total in done:
                rows = conn.execute(self._q["batch_counts"], {"id": batch_id}).fetchall()
                counts = {state: int(n) for state, n in rows}
                if not is_finished(counts, int(total)):
                    continue  # a member moved back since the statement above (fresh snapshot)
                outcome = batch_outcome(counts, int(total))
                finish = {"id": batch_id, "now": now, "outcome": outcome}
                if conn.execute(self._q["finish_batch"], finish).fetchone() is not None:
                    released = self._release(conn, batch_id, outcome, now)
                    applied[0].extend(released[0])
                    applied[1].extend(released[1])
                    finished.append(str(batch_id))
            return finished, applied

        finished, (rows, changes) = self._db.run(body, transaction=True, idempotent=False)
        for row in rows:  # a continuation's own children created meanwhile, if any
            self._resolve_descendants(row, changes)
        return finished

    def _release(self, conn: Conn, batch_id: str, outcome: str, now: datetime) -> Applied:
        """Move each Awaiting continuation of the finished batch to Enqueued or Deleted, in
        one CHANGE_STATES (compare-and-set on the Awaiting state each was read in)."""
        changes = []
        for num, queue, on_states, state_id, deleted_expire_at in conn.execute(
            self._q["batch_waiting"], {"id": batch_id}
        ).fetchall():
            waits_for = tuple(on_states or ())
            record, deleted = continuation_record(batch_id, outcome, waits_for, queue, now)
            change = StateChange(
                str(num),
                record,
                expected_states=("Awaiting",),
                expected_state_id=int(state_id),
                queue=None if deleted else queue,
                expire_at=deleted_expire_at if deleted else None,
            )
            changes.append((change, int(num)))
        if not changes:
            return [], []
        params = change_states_params(changes)
        return conn.execute(self._q["change_states"], params).fetchall(), changes

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        row = self._fetchone("get_batch", {"id": batch_id})
        return _batch_record(row) if row is not None else None

    def list_batches(self, *, offset: int = 0, limit: int = 50) -> list[BatchRecord]:
        params = {"offset": max(0, offset), "limit": max(0, limit)}
        return [_batch_record(row) for row in self._fetchall("list_batches", params)]

    def count_batches(self) -> int:
        row = self._fetchone("count_batches")
        return int(row[0]) if row else 0

    def batch_jobs(self, batch_id: str, *, offset: int = 0, limit: int = 50) -> list[JobRecord]:
        params = {"id": batch_id, "offset": max(0, offset), "limit": max(0, limit)}
        return [job_record(row) for row in self._fetchall("batch_jobs", params)]
