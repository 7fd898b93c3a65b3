"""Concurrency slots and rate-limited starts on SQLite: admit, release_slot, promote_waiting.

Every step runs in the file's single write transaction, so checking a key and acting on it
cannot interleave with another server's step on the same key: a job parked for a slot is
always seen by the release that frees one (no lost wake-up)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from functools import partial
from typing import Any

from stoker.core import reasons
from stoker.core.limits import RESERVATION_GRACE
from stoker.core.records import Admission, Gate, StateChange
from stoker.core.states import Enqueued
from stoker.storage.sqlite.codec import from_us, parse_job_id, to_us
from stoker.storage.sqlite.connection import SQLiteDatabase
from stoker.storage.sqlite.jobs import apply_change, change_values

NOT_ADMITTED = Admission(admitted=False)
ADMITTED = Admission(admitted=True)

CLAIM_OF = "SELECT state, state_id FROM job WHERE id = ?"
# A slot counts while its job is in line to run or running: a job enqueued for a freed slot
# holds it until it runs (a newer job cannot overtake it), a finished or deleted job's slot is
# free, and so is a slot whose job was removed.
LIVE_SLOTS = """
    SELECT count(*) FROM concurrency_slot AS s JOIN job AS j ON j.id = s.job_id
    WHERE s.key = ?1 AND s.job_id <> ?2 AND j.state IN ('Enqueued', 'Processing')"""
PRUNE_SLOTS = """
    DELETE FROM concurrency_slot WHERE key = ?1 AND NOT EXISTS (
        SELECT 1 FROM job AS j
        WHERE j.id = concurrency_slot.job_id AND j.state IN ('Enqueued', 'Processing'))"""
COUNT_SLOTS = "SELECT count(*) FROM concurrency_slot WHERE key = ?"
TAKE_SLOT = "INSERT OR REPLACE INTO concurrency_slot (job_id, key, state_id) VALUES (?, ?, ?)"
DROP_SLOT = "DELETE FROM concurrency_slot WHERE job_id = ? AND key = ? AND state_id = ?"
JOIN_LINE = """
    INSERT OR REPLACE INTO concurrency_wait (key, job_id, state_id, concurrency)
    VALUES (?, ?, ?, ?)"""
FIRST_WAITER = """
    SELECT w.seq, w.job_id, w.state_id, w.concurrency, j.queue
    FROM concurrency_wait AS w LEFT JOIN job AS j ON j.id = w.job_id
    WHERE w.key = ? ORDER BY w.seq LIMIT 1"""
LEAVE_LINE = "DELETE FROM concurrency_wait WHERE seq = ?"
HAS_LINE = "SELECT 1 FROM concurrency_wait WHERE key = ? LIMIT 1"
# In random order: with more keys than one call takes, every key gets its turn.
WAITING_KEYS = """
    SELECT key FROM (SELECT DISTINCT key FROM concurrency_wait) ORDER BY random() LIMIT ?"""
# rate_start: a row with a job_id is a start reserved for that job, one without a start made.
RESERVED = "SELECT rowid, at FROM rate_start WHERE job_id = ? AND key = ?"
USE_RESERVATION = "UPDATE rate_start SET job_id = NULL, at = ? WHERE rowid = ?"
MOVE_RESERVATION = "UPDATE rate_start SET at = ? WHERE rowid = ?"
PRUNE_STARTS = """
    DELETE FROM rate_start
    WHERE key = ?1 AND at <= ?2 AND (job_id IS NULL OR at <= ?2 - ?3)"""
STARTS_MADE = """
    SELECT count(*), (SELECT at FROM rate_start WHERE key = ?1 AND job_id IS NULL
        ORDER BY at DESC LIMIT 1 OFFSET ?3)
    FROM rate_start WHERE key = ?1 AND job_id IS NULL AND at > ?2"""
LATEST_START = "SELECT max(at) FROM rate_start WHERE key = ?"
NTH_LATEST_START = "SELECT at FROM rate_start WHERE key = ? ORDER BY at DESC LIMIT 1 OFFSET ?"
RECORD_START = "INSERT INTO rate_start (key, at, job_id) VALUES (?, ?, ?)"


def admit(gate: Gate, conn: sqlite3.Connection, woken: set[str]) -> Admission:
    """The write of Storage.admit (see stoker.core.protocols)."""
    num = parse_job_id(gate.job_id)
    row = conn.execute(CLAIM_OF, (num,)).fetchone() if num is not None else None
    if num is None or row is None or tuple(row) != ("Processing", gate.state_id):
        return NOT_ADMITTED
    key = gate.concurrency_key
    if key is not None and conn.execute(HAS_LINE, (key,)).fetchone() is not None:
        # The line is served first: a slot that freed (its job ended a moment ago, its
        # release still to come) goes to the oldest waiter, never to this newer job.
        promote(key, gate.now, conn, woken)
    if key is not None and conn.execute(LIVE_SLOTS, (key, num)).fetchone()[0] >= gate.concurrency:
        _park(gate, key, num, conn, woken)
        return NOT_ADMITTED
    if gate.rate_key is not None:
        reserved = _reserve_start(gate, gate.rate_key, num, conn)
        if reserved is not None:
            return Admission(admitted=False, run_at=from_us(reserved))
    if key is not None:
        conn.execute(TAKE_SLOT, (num, key, gate.state_id))
    return ADMITTED


def _park(gate: Gate, key: str, num: int, conn: sqlite3.Connection, woken: set[str]) -> None:
    """Move the claimed job to its Awaiting state and to the end of the key's line."""
    assert gate.waiting is not None, "a gate with a concurrency key carries its waiting state"
    change = StateChange(
        gate.job_id, gate.waiting, expected_states=("Processing",), expected_state_id=gate.state_id
    )
    values = change_values(change)
    if values is not None and apply_change(change, values, conn, woken):
        # SQLite's state ids count per job: the Awaiting state is the next one.
        conn.execute(JOIN_LINE, (key, num, gate.state_id + 1, gate.concurrency))


def _reserve_start(gate: Gate, key: str, num: int, conn: sqlite3.Connection) -> int | None:
    """None if the job may start now (the start is recorded), else the time (µs) of the start
    it reserved (see stoker.core.protocols.Storage.admit)."""
    now = to_us(gate.now)
    period = round(gate.rate_period * 1_000_000)
    conn.execute(PRUNE_STARTS, (key, now - period, round(RESERVATION_GRACE * 1_000_000)))
    found = conn.execute(RESERVED, (num, key)).fetchone()
    if found is not None:
        return _use_reservation(gate, key, found, now, period, conn)
    latest = conn.execute(LATEST_START, (key,)).fetchone()[0]
    nth = conn.execute(NTH_LATEST_START, (key, gate.rate_count - 1)).fetchone()
    at = max(now, latest or now, nth[0] + period if nth is not None else now)
    if at <= now:
        conn.execute(RECORD_START, (key, now, None))
        return None
    conn.execute(RECORD_START, (key, at, num))
    return int(at)


def _use_reservation(
    gate: Gate, key: str, found: Any, now: int, period: int, conn: sqlite3.Connection
) -> int | None:
    """A job back for its reserved start: too early, it keeps its turn; otherwise it starts if
    the starts really made in the last period allow it (it may come back late, after the
    ones reserved behind it), else its turn moves to the first time they do."""
    rowid, at = found
    if at > now:
        return int(at)
    made, nth = conn.execute(STARTS_MADE, (key, now - period, gate.rate_count - 1)).fetchone()
    if made < gate.rate_count:
        conn.execute(USE_RESERVATION, (now, rowid))
        return None
    turn = int(nth) + period
    conn.execute(MOVE_RESERVATION, (turn, rowid))
    return turn


def promote(key: str, now: datetime, conn: sqlite3.Connection, woken: set[str]) -> int:
    """Enqueue the key's oldest waiters while slots are free; each takes its slot at once."""
    conn.execute(PRUNE_SLOTS, (key,))
    held = int(conn.execute(COUNT_SLOTS, (key,)).fetchone()[0])
    promoted = 0
    while (row := conn.execute(FIRST_WAITER, (key,)).fetchone()) is not None:
        seq, num, state_id, concurrency, queue = row
        if held >= concurrency:
            break
        conn.execute(LEAVE_LINE, (seq,))
        if queue is None:
            continue  # the job was removed
        record = Enqueued(queue=queue, reason=reasons.slot_freed(key)).to_record(now)
        change = StateChange(
            str(num), record, expected_states=("Awaiting",), expected_state_id=state_id
        )
        values = change_values(change)
        if values is not None and apply_change(change, values, conn, woken):
            conn.execute(TAKE_SLOT, (num, key, state_id + 1))
            held += 1
            promoted += 1
    return promoted


def give_back(
    key: str,
    num: int | None,
    state_id: int,
    now: datetime,
    conn: sqlite3.Connection,
    woken: set[str],
) -> int:
    """Drop the slot job `num` took under claim `state_id`, then serve the key's line."""
    if num is not None:
        conn.execute(DROP_SLOT, (num, key, state_id))
    return promote(key, now, conn, woken)


class SQLiteLimits:
    """Storage.admit, release_slot and promote_waiting, each one write transaction."""

    _db: SQLiteDatabase

    def admit(self, gate: Gate) -> Admission:
        return self._db.write(partial(admit, gate))

    def release_slot(self, key: str, job_id: str, state_id: int, now: datetime) -> int:
        return self._db.write(partial(give_back, key, parse_job_id(job_id), state_id, now))

    def _give_back_slot(
        self, change: StateChange, conn: sqlite3.Connection, woken: set[str]
    ) -> None:
        """StateChange.release_slot, inside the change's write transaction."""
        if change.release_slot is not None and change.expected_state_id is not None:
            key, num = change.release_slot, parse_job_id(change.job_id)
            give_back(key, num, change.expected_state_id, change.state.created_at, conn, woken)

    def promote_waiting(self, now: datetime, limit: int) -> int:
        def promote_all(conn: sqlite3.Connection, woken: set[str]) -> int:
            keys = [row[0] for row in conn.execute(WAITING_KEYS, (max(0, limit),)).fetchall()]
            return sum(promote(key, now, conn, woken) for key in keys)

        return self._db.write(promote_all)
