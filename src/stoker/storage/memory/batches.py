"""Batches in memory: created with their jobs, finished from their counts, and read back.

Each call is one critical section under the storage's lock, so creating a batch with its jobs
is all or nothing, and finishing one is a compare-and-set on its outcome (see
stoker.core.protocols.Storage.create_batch and finish_batches)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from stoker.core.batches import BatchRecord, NewBatch, batch_outcome, continuation_record
from stoker.core.errors import BatchNotFoundError
from stoker.core.records import JobRecord, NewJob, StateChange
from stoker.core.states import SETTLED_STATES, STATE_NAMES
from stoker.storage.memory.data import BatchRow, Effects, MemoryData, utc
from stoker.storage.memory.jobs import apply_change, insert_jobs
from stoker.storage.memory.monitor import job_record


def create_batch(
    data: MemoryData, batch: NewBatch, jobs: Sequence[NewJob], effects: Effects
) -> list[str]:
    """The write of Storage.create_batch (lock held)."""
    if batch.id in data.batches:
        raise ValueError(f"batch {batch.id} already exists")
    members = sum(1 for job in jobs if job.batch_id == batch.id)
    row = BatchRow(batch.id, batch.description, utc(batch.created_at), members)
    ids = insert_jobs(data, jobs, effects, row)
    row.continuations.extend(
        int(job_id) for job_id, job in zip(ids, jobs, strict=True) if job.awaits_batch == batch.id
    )
    return ids


def continue_batch(data: MemoryData, job: NewJob, effects: Effects) -> str:
    """The write of Storage.continue_batch (lock held): a continuation of a finished batch is
    created in the state finish_batches would have moved it to."""
    batch = data.batches.get(str(job.awaits_batch))
    if batch is None:
        raise BatchNotFoundError(str(job.awaits_batch))
    deleted = False
    if batch.outcome is not None:
        at = job.state.created_at
        record, deleted = continuation_record(batch.id, batch.outcome, job.on_states, job.queue, at)
        job = replace(job, state=record)
    (job_id,) = insert_jobs(data, [job], effects)
    row = data.jobs[int(job_id)]
    if deleted:
        row.expire_at = row.deleted_expire_at
    batch.continuations.append(row.id)
    return job_id


def finish_batches(data: MemoryData, now: datetime, limit: int, effects: Effects) -> list[str]:
    """The write of Storage.finish_batches (lock held): the open batches whose members all
    settled, oldest first, read from their counts; a finished batch is open no more, so no
    later call finishes it again."""
    done: list[BatchRow] = []
    for _, batch_id in data.open_batches:
        if len(done) >= limit:
            break
        batch = data.batches[batch_id]
        if _settled(batch) >= batch.total:
            done.append(batch)
    for batch in done:
        data.finish_batch(batch, now, batch_outcome(batch.counts, batch.total))
        _release(data, batch, now, effects)
    return [batch.id for batch in done]


def _settled(batch: BatchRow) -> int:
    return sum(batch.counts[name] for name in SETTLED_STATES)


def _release(data: MemoryData, batch: BatchRow, now: datetime, effects: Effects) -> None:
    """Move each Awaiting continuation of the finished batch to Enqueued or Deleted."""
    outcome = str(batch.outcome)
    for job_id in sorted(batch.continuations):
        row = data.jobs.get(job_id)
        if row is None or row.state.name != "Awaiting":
            continue
        record, deleted = continuation_record(batch.id, outcome, row.on_states, row.queue, now)
        change = StateChange(
            str(job_id),
            record,
            expected_states=("Awaiting",),
            expected_state_id=row.state_id,
            queue=None if deleted else row.queue,
            expire_at=row.deleted_expire_at if deleted else None,
        )
        apply_change(data, change, effects)


def batch_record(batch: BatchRow) -> BatchRecord:
    counts = dict.fromkeys(STATE_NAMES, 0)
    counts.update(batch.counts)
    return BatchRecord(
        id=batch.id,
        description=batch.description,
        created_at=batch.created_at,
        total=batch.total,
        counts=counts,
        finished_at=batch.finished_at,
        outcome=batch.outcome,
        continuations=tuple(str(job_id) for job_id in sorted(batch.continuations)),
    )


class MemoryBatches:
    """The batch steps and reads of the storage contract, each one critical section."""

    if TYPE_CHECKING:  # MemoryStorage's: one atomic write with its effects, and one read

        def _write(self) -> AbstractContextManager[tuple[MemoryData, Effects]]: ...

        def _read(self) -> AbstractContextManager[MemoryData]: ...

    def create_batch(self, batch: NewBatch, jobs: Sequence[NewJob]) -> list[str]:
        with self._write() as (data, effects):
            return create_batch(data, batch, jobs, effects)

    def continue_batch(self, job: NewJob) -> str:
        with self._write() as (data, effects):
            return continue_batch(data, job, effects)

    def finish_batches(self, now: datetime, limit: int) -> list[str]:
        with self._write() as (data, effects):
            return finish_batches(data, utc(now), limit, effects)

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        with self._read() as data:
            batch = data.batches.get(batch_id)
            return batch_record(batch) if batch is not None else None

    def list_batches(self, *, offset: int = 0, limit: int = 50) -> list[BatchRecord]:
        offset, limit = max(0, offset), max(0, limit)
        with self._read() as data:
            end = max(0, len(data.batch_order) - offset)
            keys = data.batch_order[max(0, end - limit) : end]
            return [batch_record(data.batches[batch_id]) for _, batch_id in reversed(keys)]

    def count_batches(self) -> int:
        with self._read() as data:
            return len(data.batches)

    def batch_jobs(self, batch_id: str, *, offset: int = 0, limit: int = 50) -> list[JobRecord]:
        offset, limit = max(0, offset), max(0, limit)
        with self._read() as data:
            batch = data.batches.get(batch_id)
            if batch is None:
                return []
            # Members that expired are gone from the rows (and so from the pages) but stay
            # counted, as on every storage: expiry is not a move.
            rows = [data.jobs[n] for n in batch.members if n in data.jobs]
            return [job_record(row) for row in rows[offset : offset + limit]]
