"""Continuations in the SQLite storage: the state a new child starts in, and releasing children."""

from __future__ import annotations

import sqlite3
from typing import Any

from stoker.core.errors import JobNotFoundError
from stoker.core.records import NewJob, StateChange
from stoker.core.states import continuation_state
from stoker.storage.sqlite.codec import dumps, parse_job_id, to_us_or_none

# (A child parked for a concurrency slot is Awaiting too, but long past its parent's say.)
CHILDREN = """
    SELECT id, queue, on_states, deleted_expire_at FROM job
    WHERE parent_id = ? AND state = 'Awaiting'
        AND id NOT IN (SELECT job_id FROM concurrency_wait)
    ORDER BY id"""
RESOLVE_CHILD = """
    UPDATE job SET state = ?, state_id = state_id + 1, state_at = ?, expire_at = ?, reason = ?,
        data = ?
    WHERE id = ?"""
# Positions in an INSERT_JOB row (sqlite_jobs._job_row) that a continuation may change.
ROW_STATE, ROW_EXPIRE_AT, ROW_REASON, ROW_DATA = 0, 5, 9, 10


def resolve_new_child(
    conn: sqlite3.Connection, job: NewJob, row: list[Any], parent_states: dict[str, str]
) -> None:
    """Adjust the insert `row` of a new child to its parent's current state (inside the write
    transaction, so the parent cannot finish between this look and the insert).

    Row layout: see sqlite_jobs._job_row and ROW_* above."""
    parent = str(job.parent_id)
    parent_state = parent_states.get(parent)
    if parent_state is None:
        number = parse_job_id(parent)
        found = None
        if number is not None:
            found = conn.execute("SELECT state FROM job WHERE id = ?", (number,)).fetchone()
        if found is None:
            raise JobNotFoundError(parent)
        parent_state = parent_states[parent] = str(found[0])
    if job.state.name != "Awaiting":
        return
    resolved = continuation_state(parent, parent_state, job.on_states, job.queue)
    if resolved is not None:
        row[ROW_STATE] = resolved.name
        row[ROW_REASON] = resolved.reason
        row[ROW_DATA] = dumps(resolved.data())
        if resolved.name == "Deleted":
            row[ROW_EXPIRE_AT] = to_us_or_none(job.deleted_expire_at)


def release_children(
    conn: sqlite3.Connection,
    woken: set[str],
    parent_id: int,
    parent_state: str,
    at: int,
    change: StateChange,
) -> None:
    """Resolve the Awaiting children of a job that just entered `parent_state`: enqueue those
    waiting for it, delete those whose condition can no longer be met (the parent is final),
    and resolve the children of those deleted in turn, so no grandchild waits forever."""
    deleted_expire_at = to_us_or_none(change.deleted_children_expire_at)
    work = [(parent_id, parent_state)]
    while work:
        pid, pstate = work.pop()
        for child, queue, on_states, own_expiry in conn.execute(CHILDREN, (pid,)).fetchall():
            resolved = continuation_state(str(pid), pstate, (on_states or "").split(","), queue)
            if resolved is None:
                continue
            expiry = None
            if resolved.name == "Deleted":
                expiry = deleted_expire_at if deleted_expire_at is not None else own_expiry
                work.append((child, "Deleted"))
            else:
                woken.add(queue)
            values = (resolved.name, at, expiry, resolved.reason, dumps(resolved.data()), child)
            conn.execute(RESOLVE_CHILD, values)
