"""Batches on SQLite: created with their jobs, finished from their counts, and read back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from stoker.core.batches import BatchRecord, NewBatch, batch_outcome, continuation_record
from stoker.core.errors import BatchNotFoundError
from stoker.core.records import JobRecord, NewJob, StateChange
from stoker.core.states import STATE_NAMES
from stoker.storage.sqlite.codec import from_us, from_us_or_none, to_us
from stoker.storage.sqlite.connection import SQLiteDatabase
from stoker.storage.sqlite.jobs import apply_change, change_values, insert_jobs
from stoker.storage.sqlite.monitor import JOB_COLUMNS, job_record

INSERT_BATCH = "INSERT INTO batch (id, description, created_at, total) VALUES (?, ?, ?, ?)"
BATCH_EXISTS = "SELECT finished_at, outcome FROM batch WHERE id = ?"
FIRST_COUNTS = """
    INSERT INTO batch_count (batch_id, state, n)
    SELECT ?1, state, count(*) FROM job WHERE batch_id = ?1 GROUP BY state"""
ADD_CONTINUATIONS = """
    INSERT INTO batch_continuation (job_id, batch_id) SELECT value, ?1 FROM json_each(?2)"""
# Open batches whose members all settled: read from the counts, one row per state at most.
DONE = """
    SELECT b.id, b.total FROM batch AS b
    WHERE b.finished_at IS NULL AND b.total <= (
        SELECT coalesce(sum(c.n), 0) FROM batch_count AS c
        WHERE c.batch_id = b.id AND c.state IN ('Succeeded', 'Failed', 'Deleted'))
    ORDER BY b.created_at LIMIT ?"""
COUNTS = "SELECT state, n FROM batch_count WHERE batch_id = ?"
FINISH = "UPDATE batch SET finished_at = ?, outcome = ? WHERE id = ? AND finished_at IS NULL"
WAITING = """
    SELECT j.id, j.queue, j.on_states, j.state_id, j.deleted_expire_at
    FROM batch_continuation AS c JOIN job AS j ON j.id = c.job_id
    WHERE c.batch_id = ? AND j.state = 'Awaiting' ORDER BY j.id"""
SET_EXPIRY = "UPDATE job SET expire_at = deleted_expire_at WHERE id = ?"
BATCH = "SELECT id, description, created_at, total, finished_at, outcome FROM batch"
CONTINUATIONS = "SELECT job_id FROM batch_continuation WHERE batch_id = ? ORDER BY job_id"
NEWEST = BATCH + " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
MEMBERS = JOB_COLUMNS + " WHERE j.batch_id = ? ORDER BY j.id LIMIT ? OFFSET ?"


def create_batch(
    batch: NewBatch, jobs: Sequence[NewJob], conn: sqlite3.Connection, woken: set[str]
) -> list[str]:
    """The write of Storage.create_batch (the caller's write transaction)."""
    if conn.execute(BATCH_EXISTS, (batch.id,)).fetchone() is not None:
        raise ValueError(f"batch {batch.id} already exists")
    members = [job for job in jobs if job.batch_id == batch.id]
    conn.execute(INSERT_BATCH, (batch.id, batch.description, to_us(batch.created_at), len(members)))
    ids = insert_jobs(conn, woken, jobs) if jobs else []
    waiting = [int(i) for i, job in zip(ids, jobs, strict=True) if job.awaits_batch == batch.id]
    conn.execute(FIRST_COUNTS, (batch.id,))
    conn.execute(ADD_CONTINUATIONS, (batch.id, json.dumps(waiting)))
    return ids


def continue_batch(job: NewJob, conn: sqlite3.Connection, woken: set[str]) -> str:
    """The write of Storage.continue_batch."""
    batch_id = str(job.awaits_batch)
    found = conn.execute(BATCH_EXISTS, (batch_id,)).fetchone()
    if found is None:
        raise BatchNotFoundError(batch_id)
    finished_at, outcome = found
    deleted = False
    if finished_at is not None:
        at = job.state.created_at
        record, deleted = continuation_record(batch_id, outcome, job.on_states, job.queue, at)
        job = replace(job, state=record)
    (job_id,) = insert_jobs(conn, woken, [job])
    if deleted:
        conn.execute(SET_EXPIRY, (int(job_id),))
    conn.execute(ADD_CONTINUATIONS, (batch_id, json.dumps([int(job_id)])))
    return job_id


def finish_batches(
    now: datetime, limit: int, conn: sqlite3.Connection, woken: set[str]
) -> list[str]:
    """The write of Storage.finish_batches: the transaction is the file's only writer, so
    the compare-and-set on finished_at makes each batch finish once."""
    finished = []
    for batch_id, total in conn.execute(DONE, (max(0, limit),)).fetchall():
        counts = dict(conn.execute(COUNTS, (batch_id,)).fetchall())
        outcome = batch_outcome(counts, total)
        if conn.execute(FINISH, (to_us(now), outcome, batch_id)).rowcount == 1:
            _release(batch_id, outcome, now, conn, woken)
            finished.append(str(batch_id))
    return finished


def _release(
    batch_id: str, outcome: str, now: datetime, conn: sqlite3.Connection, woken: set[str]
) -> None:
    """Move each Awaiting continuation of the finished batch to Enqueued or Deleted."""
    for job_id, queue, on_states, state_id, deleted_expire_at in conn.execute(
        WAITING, (batch_id,)
    ).fetchall():
        waits_for = tuple(on_states.split(",")) if on_states else ()
        record, deleted = continuation_record(batch_id, outcome, waits_for, queue, now)
        expire_at = from_us_or_none(deleted_expire_at) if deleted else None
        change = StateChange(
            str(job_id),
            record,
            expected_states=("Awaiting",),
            expected_state_id=state_id,
            queue=queue if not deleted else None,
            expire_at=expire_at,
        )
        values = change_values(change)
        if values is not None:
            apply_change(change, values, conn, woken)


def _batch_record(row: Sequence[Any], conn: sqlite3.Connection) -> BatchRecord:
    batch_id = row[0]
    counts = dict.fromkeys(STATE_NAMES, 0)
    counts.update(dict(conn.execute(COUNTS, (batch_id,)).fetchall()))
    continuations = tuple(str(r[0]) for r in conn.execute(CONTINUATIONS, (batch_id,)))
    return BatchRecord(
        id=batch_id,
        description=row[1],
        created_at=from_us(row[2]),
        total=row[3],
        counts=counts,
        finished_at=from_us_or_none(row[4]),
        outcome=row[5],
        continuations=continuations,
    )


class SQLiteBatches:
    """The batch steps and reads of the storage contract."""

    _db: SQLiteDatabase

    def create_batch(self, batch: NewBatch, jobs: Sequence[NewJob]) -> list[str]:
        return self._db.write(partial(create_batch, batch, jobs))

    def continue_batch(self, job: NewJob) -> str:
        return self._db.write(partial(continue_batch, job))

    def finish_batches(self, now: datetime, limit: int) -> list[str]:
        return self._db.write(partial(finish_batches, now, limit))

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        def read(conn: sqlite3.Connection) -> BatchRecord | None:
            row = conn.execute(BATCH + " WHERE id = ?", (batch_id,)).fetchone()
            return _batch_record(row, conn) if row is not None else None

        return self._db.read(read)

    def list_batches(self, *, offset: int = 0, limit: int = 50) -> list[BatchRecord]:
        def read(conn: sqlite3.Connection) -> list[BatchRecord]:
            rows = conn.execute(NEWEST, (max(0, limit), max(0, offset))).fetchall()
            return [_batch_record(row, conn) for row in rows]

        return self._db.read(read)

    def count_batches(self) -> int:
        return int(
            self._db.read(lambda conn: conn.execute("SELECT count(*) FROM batch").fetchone()[0])
        )

    def batch_jobs(self, batch_id: str, *, offset: int = 0, limit: int = 50) -> list[JobRecord]:
        values = (batch_id, max(0, limit), max(0, offset))
        rows = self._db.read(lambda conn: conn.execute(MEMBERS, values).fetchall())
        return [job_record(row) for row in rows]
