"""Job writes of the SQLite storage: create, fetch, wait, change state, and their hot-path SQL."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from stoker.core import reasons
from stoker.core.jobs import CRASHES_PARAM
from stoker.core.records import (
    CounterIncrement,
    FetchedJob,
    LogLine,
    NewJob,
    StateChange,
    keyed_job,
)
from stoker.core.states import UNFINISHED_STATES, processing_state
from stoker.storage.sqlite.codec import (
    dumps,
    dumps_mapping,
    from_us,
    loads,
    parse_job_id,
    to_us,
    to_us_or_none,
)
from stoker.storage.sqlite.connection import SQLiteDatabase
from stoker.storage.sqlite.continuations import release_children, resolve_new_child

# Our own generator: jitter must not consume (or depend on) the application's seeded
# global random state.
_JITTER = random.Random()

# Every state change bumps state_id; the trigger job_history then files the previous state
# (still in the row's old values) into job_state. So each step below is ONE statement.
INSERT_JOB = """
    INSERT INTO job (state, queue, state_id, state_at, created_at, run_at, expire_at, parent_id,
        on_states, deleted_expire_at, reason, data, params, function, args, kwargs, batch_id)
    VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# Whether a queue has work: one probe of the partial index job_enqueued (Enqueued jobs only).
PEEK = "SELECT 1 FROM job WHERE state = 'Enqueued' AND queue = ? LIMIT 1"
# Finds and claims the oldest Enqueued job of one queue in one statement. The Enqueued state
# it leaves was filed into job_state by the BEFORE trigger: its time is when the job was
# enqueued (RETURNING cannot see the row's old values).
CLAIM = """
    UPDATE job SET state = 'Processing', state_id = state_id + 1, state_at = ?1, server_id = ?2,
        reason = ?5, data = ?3
    WHERE id = (
        SELECT id FROM job WHERE state = 'Enqueued' AND queue = ?4
        ORDER BY state_at, id LIMIT 1)
    RETURNING id, state_id, function, args, kwargs, queue, params, created_at,
        (SELECT created_at FROM job_state WHERE job_id = job.id AND seq = job.state_id - 1)"""
# Compare-and-set: expected states travel as one ",A,B," text so the SQL text stays constant.
_CHANGE = """
    UPDATE job SET state = ?1, state_id = state_id + 1, state_at = ?2,
        queue = coalesce(?3, queue), run_at = ?4, expire_at = ?5, server_id = ?6, reason = ?7,
        data = ?8{params}
    WHERE id = ?9 AND (?10 IS NULL OR instr(?10, ',' || state || ',') > 0)
        AND (?11 IS NULL OR state_id = ?11)
    RETURNING state_id, queue{children}"""
_SET_PARAMS = ", params = ?12"
_HAS_CHILDREN = """,
        EXISTS (SELECT 1 FROM job AS c WHERE c.parent_id = job.id AND c.state = 'Awaiting')"""
CHANGE = {
    (with_params, release): _CHANGE.format(
        params=_SET_PARAMS if with_params else "", children=_HAS_CHILDREN if release else ""
    )
    for with_params in (False, True)
    for release in (False, True)
}
# All of a change's counters in one statement, from a JSON array of [key, by, expire_at].
# ("WHERE true" tells SQLite's parser that ON CONFLICT belongs to the INSERT.)
BUMP_COUNTERS = """
    INSERT INTO counter (key, value, expire_at)
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),
        json_extract(value, '$[2]')
    FROM json_each(?) WHERE true
    ON CONFLICT (key) DO UPDATE SET value = value + excluded.value,
        expire_at = excluded.expire_at"""
FIND_KEY = "SELECT job_id FROM idempotency WHERE key = ? AND expire_at > ?"
SAVE_KEY = "INSERT OR REPLACE INTO idempotency (key, job_id, expire_at) VALUES (?, ?, ?)"
_UNFINISHED = dumps(sorted(UNFINISHED_STATES))  # a JSON array for json_each
FIND_UNIQUE = """
    SELECT u.job_id FROM unique_key AS u JOIN job AS j ON j.id = u.job_id
    WHERE u.key = ? AND j.state IN (SELECT value FROM json_each(?))"""
SAVE_UNIQUE = "INSERT OR REPLACE INTO unique_key (key, job_id) VALUES (?, ?)"
ENQUEUE_DUE = """
    UPDATE job SET state = 'Enqueued', state_id = state_id + 1, state_at = ?1, run_at = NULL,
        reason = ?2, data = json_object('queue', queue)
    WHERE id IN (
        SELECT id FROM job WHERE run_at <= ?1 AND state = 'Scheduled'
        ORDER BY run_at, id LIMIT ?3)
    RETURNING queue"""
# SET expressions see the row's old values: the reason names the server the job was on (?2
# and ?5 are the text around it, ?4 the name of an unknown server), and the crash count (?6 is
# its JSON path) goes up by one.
REQUEUE_ORPHANS = """
    UPDATE job SET state = 'Enqueued', state_id = state_id + 1, state_at = ?1, server_id = NULL,
        reason = ?2 || coalesce(server_id, ?4) || ?5, data = json_object('queue', queue),
        params = json_set(params, ?6, coalesce(CAST(json_extract(params, ?6) AS INTEGER), 0) + 1)
    WHERE id IN (
        SELECT id FROM job
        WHERE state = 'Processing' AND state <> 'Enqueued'
            AND (server_id IS NULL OR server_id NOT IN (SELECT id FROM server))
        ORDER BY state_at, id LIMIT ?3)
    RETURNING id, queue"""
# The trigger job_deleted removes each job's history and log lines with it.
DELETE_EXPIRED = """
    DELETE FROM job WHERE id IN (
        SELECT id FROM job WHERE expire_at <= ? ORDER BY expire_at LIMIT ?)"""

ORPHAN_HEAD, ORPHAN_TAIL = reasons.pieces(reasons.orphan_requeued, 1)


@lru_cache(maxsize=1024)
def _processing(server_id: str, worker_id: str) -> tuple[str | None, str]:
    """Reason and data text of a claim's state; the same for every fetch of one worker."""
    state = processing_state(server_id, worker_id)
    return state.reason, dumps(state.data())


def _job_row(job: NewJob, params_memo: dict[int, tuple[Any, str]]) -> list[Any]:
    """INSERT_JOB parameters of `job` (layout: see sqlite_continuations.ROW_*)."""
    state = job.state
    params = job.params
    memo = params_memo.get(id(params))
    if memo is None or memo[0] is not params:
        # A bulk enqueue usually shares one params mapping between all its jobs.
        memo = params_memo[id(params)] = (params, dumps_mapping(params))
    return [
        state.name,
        job.queue,
        to_us(state.created_at),
        to_us(job.created_at),
        to_us_or_none(job.run_at) if state.name == "Scheduled" else None,
        None,
        parse_job_id(job.parent_id) if job.parent_id else None,
        ",".join(job.on_states) if job.on_states else None,
        to_us_or_none(job.deleted_expire_at),
        state.reason,
        dumps_mapping(state.data),
        memo[1],
        job.function,
        job.args,
        job.kwargs,
        job.batch_id,
    ]


def insert_jobs(conn: sqlite3.Connection, woken: set[str], jobs: Sequence[NewJob]) -> list[str]:
    """Insert `jobs` (inside the caller's write transaction) and return their ids."""
    memo: dict[int, tuple[Any, str]] = {}
    rows = [_job_row(job, memo) for job in jobs]
    parent_states: dict[str, str] = {}
    for job, row in zip(jobs, rows, strict=True):
        if job.parent_id:
            resolve_new_child(conn, job, row, parent_states)
    if len(rows) == 1:
        first = last = int(conn.execute(INSERT_JOB, rows[0]).lastrowid or 0)
    else:
        conn.executemany(INSERT_JOB, rows)
        last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        # AUTOINCREMENT gives max(rowid ever used) + 1 to each insert, and this transaction
        # is the only writer: the ids of one executemany are consecutive.
        first = last - len(rows) + 1
    for row in rows:
        if row[0] == "Enqueued":
            woken.add(row[1])
    return [str(job_id) for job_id in range(first, last + 1)]


def insert_keyed(conn: sqlite3.Connection, woken: set[str], job: NewJob) -> list[str]:
    """Insert `job`, unless its idempotency key still names a job or its unique key is held by
    an unfinished one: then that job's id. The write transaction is the only writer of the
    file, so two creates with one key cannot both miss it."""
    job_id, named = _known_id(conn, job)
    if job_id is None:
        (job_id,) = insert_jobs(conn, woken, [job])
        if job.unique_key is not None:
            conn.execute(SAVE_UNIQUE, (job.unique_key, int(job_id)))
    if job.idempotency_key is not None and not named:  # a hit keeps its first expiry
        expire_at = to_us(job.idempotency_expire_at or job.created_at)
        conn.execute(SAVE_KEY, (job.idempotency_key, int(job_id), expire_at))
    return [job_id]


def _known_id(conn: sqlite3.Connection, job: NewJob) -> tuple[str | None, bool]:
    """The id of the job `job`'s keys name (None if they name none), and whether its
    idempotency key named it."""
    if job.idempotency_key is not None:
        row = conn.execute(FIND_KEY, (job.idempotency_key, to_us(job.created_at))).fetchone()
        if row is not None:
            return str(row[0]), True
    if job.unique_key is not None:
        row = conn.execute(FIND_UNIQUE, (job.unique_key, _UNFINISHED)).fetchone()
        if row is not None:
            return str(row[0]), False
    return None, False


def _peek(queues: Sequence[str], conn: sqlite3.Connection) -> bool:
    """Whether any of `queues` has an Enqueued job (a read, outside the write lock)."""
    return any(conn.execute(PEEK, (queue,)).fetchone() is not None for queue in queues)


def _claim_next(
    queues: Sequence[str],
    server_id: str,
    at: int,
    processing: tuple[str | None, str],
    conn: sqlite3.Connection,
    woken: set[str],
) -> FetchedJob | None:
    """The write of fetch_next: claim the oldest job of the first queue that has one."""
    reason, data = processing
    for queue in queues:
        row = conn.execute(CLAIM, (at, server_id, data, queue, reason)).fetchone()
        if row is not None:
            return FetchedJob(
                id=str(row[0]),
                function=row[2],
                args=row[3],
                kwargs=row[4],
                queue=row[5],
                params=loads(row[6]),
                created_at=from_us(row[7]),
                enqueued_at=from_us(row[8]),
                state_id=row[1],
            )
    return None


class SQLiteJobWrites:
    """The write half of a job's life; every method is at most one write transaction."""

    _db: SQLiteDatabase

    def create_jobs(self, jobs: Sequence[NewJob]) -> list[str]:
        if not jobs:
            return []
        keyed = keyed_job(jobs)
        if keyed is not None:
            return self._db.write(lambda conn, woken: insert_keyed(conn, woken, keyed))
        return self._db.write(lambda conn, woken: insert_jobs(conn, woken, jobs))

    def fetch_next(
        self, queues: Sequence[str], server_id: str, worker_id: str, now: datetime
    ) -> FetchedJob | None:
        if not queues:
            return None
        db = self._db
        slot = db.slot()
        names = tuple(queues)
        generations = db.shared.snapshot(names)
        if slot.busy:
            # The last fetch found a job: go straight to the write lock (busy workers would
            # only find the job that the look costs to find twice).
            slot.seen = (names, generations, None)
        else:
            # The wake-up baseline is taken BEFORE looking, so wait_for_jobs cannot sleep
            # through anything enqueued after the look; idle pollers never take the lock.
            slot.seen = (names, generations, db.read(db.data_version))
            if not db.read(partial(_peek, names)):
                return None
        processing = _processing(server_id, worker_id)
        fetched = db.write(partial(_claim_next, names, server_id, to_us(now), processing))
        slot.busy = fetched is not None
        return fetched

    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        db = self._db
        slot = db.slot()
        names = tuple(queues)
        seen, slot.seen = slot.seen, None
        if seen is not None and seen[0] == names:
            generations, version = seen[1], seen[2]
        else:
            generations, version = db.shared.snapshot(names), db.read(db.data_version)
        deadline = time.monotonic() + max(0.0, timeout)
        poll = db.options.poll_interval
        # A random first slice spreads the looks of a process's idle workers over the poll
        # interval, so one of them notices another process's enqueue sooner.
        step = _JITTER.uniform(0.0, poll)
        while (remaining := deadline - time.monotonic()) > 0:
            if db.shared.wait(names, generations, min(step, remaining)):
                return  # a job was enqueued in this process
            step = poll
            current = db.read(db.data_version)
            if current != version:
                # Another connection committed something: wake only if there is work.
                version = current
                if db.read(partial(_peek, names)):
                    return

    def finish_and_fetch(
        self,
        change: StateChange,
        queues: Sequence[str],
        server_id: str,
        worker_id: str,
        now: datetime,
    ) -> tuple[bool, FetchedJob | None]:
        values = change_values(change)
        if not queues:
            return self._db.write(partial(self._apply, change, values)), None
        db = self._db
        slot = db.slot()
        names = tuple(queues)
        # As a busy fetch_next: no look before the write (this worker just had a job), and the
        # wake-up baseline is taken before the claim so wait_for_jobs misses nothing after it.
        slot.seen = (names, db.shared.snapshot(names), None)
        claim = partial(
            _claim_next, names, server_id, to_us(now), _processing(server_id, worker_id)
        )

        def finish_then_claim(
            conn: sqlite3.Connection, woken: set[str]
        ) -> tuple[bool, FetchedJob | None]:
            applied = self._apply(change, values, conn, woken)
            return applied, claim(conn, woken)

        applied, fetched = db.write(finish_then_claim)
        slot.busy = fetched is not None
        return applied, fetched

    def change_state(self, change: StateChange) -> bool:
        values = change_values(change)
        if values is None:
            return False
        return self._db.write(partial(self._apply, change, values))

    def _apply(
        self,
        change: StateChange,
        values: list[Any] | None,
        conn: sqlite3.Connection,
        woken: set[str],
    ) -> bool:
        """apply_change, giving back the job's concurrency slot first if the change says so
        (whether or not it applies: see StateChange.release_slot)."""
        if change.release_slot is not None and values is not None:
            self._give_back_slot(change, conn, woken)
        return values is not None and apply_change(change, values, conn, woken)

    if TYPE_CHECKING:  # SQLiteLimits's, in the same write transaction

        def _give_back_slot(
            self, change: StateChange, conn: sqlite3.Connection, woken: set[str]
        ) -> None: ...

    def set_progress(self, job_id: str, progress: float) -> None:
        num = parse_job_id(job_id)
        if num is not None:
            self._execute("UPDATE job SET progress = ? WHERE id = ?", (float(progress), num))

    def add_counters(self, increments: Sequence[CounterIncrement]) -> None:
        if increments:
            self._db.write(lambda conn, _: bump_counters(conn, increments))

    def append_log(self, job_id: str, line: LogLine) -> None:
        num = parse_job_id(job_id)
        if num is not None:
            self._execute(
                "INSERT INTO job_log (job_id, created_at, message) "
                "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM job WHERE id = ?)",
                (num, to_us(line.created_at), line.message, num),
            )

    def enqueue_due_scheduled(self, now: datetime, limit: int) -> int:
        values = (to_us(now), reasons.SCHEDULED_TIME_REACHED, max(0, limit))

        def enqueue(conn: sqlite3.Connection, woken: set[str]) -> int:
            queues = conn.execute(ENQUEUE_DUE, values).fetchall()
            woken.update(row[0] for row in queues)
            return len(queues)

        return self._db.write(enqueue)

    def requeue_orphaned_jobs(self, now: datetime, limit: int) -> list[str]:
        unknown, crashes = reasons.UNKNOWN_SERVER, f"$.{CRASHES_PARAM}"
        values = (to_us(now), ORPHAN_HEAD, max(0, limit), unknown, ORPHAN_TAIL, crashes)

        def requeue(conn: sqlite3.Connection, woken: set[str]) -> list[str]:
            rows = conn.execute(REQUEUE_ORPHANS, values).fetchall()
            woken.update(row[1] for row in rows)
            return [str(job_id) for job_id in sorted(row[0] for row in rows)]

        return self._db.write(requeue)

    def delete_expired(self, now: datetime, limit: int) -> int:
        at = to_us(now)

        def delete(conn: sqlite3.Connection, _: set[str]) -> int:
            removed = conn.execute(DELETE_EXPIRED, (at, max(0, limit))).rowcount
            conn.execute("DELETE FROM counter WHERE expire_at <= ?", (at,))
            conn.execute("DELETE FROM idempotency WHERE expire_at <= ?", (at,))
            return max(0, removed)

        return self._db.write(delete)

    def _execute(self, sql: str, values: Sequence[Any]) -> int:
        """One write statement in its own transaction; the number of rows it changed."""
        return self._db.write(lambda conn, _: conn.execute(sql, values).rowcount)


def change_values(change: StateChange) -> list[Any] | None:
    """The statement values of change_state; None for an id this storage never issued."""
    job_id = parse_job_id(change.job_id)
    if job_id is None:
        return None
    state = change.state
    name = state.name
    expected = "," + ",".join(change.expected_states) + "," if change.expected_states else None
    values: list[Any] = [
        name,
        to_us(state.created_at),
        change.queue,
        to_us_or_none(change.run_at) if name == "Scheduled" else None,
        to_us_or_none(change.expire_at),
        state.data.get("server_id") if name == "Processing" else None,
        state.reason,
        dumps_mapping(state.data),
        job_id,
        expected,
        change.expected_state_id,
    ]
    return values


def apply_change(
    change: StateChange, values: list[Any], conn: sqlite3.Connection, woken: set[str]
) -> bool:
    """The write of change_state: compare-and-set, counters, continuations."""
    if change.params:
        # Merged in Python: top-level keys replace (SQLite's json_patch would merge nested
        # objects and drop null values). Safe: nobody writes while we hold the lock.
        found = conn.execute("SELECT params FROM job WHERE id = ?", (values[8],)).fetchone()
        if found is None:
            return False
        values = [*values, merge_params(found[0], change.params)]
    release = change.release_continuations
    row = conn.execute(CHANGE[(bool(change.params), release)], values).fetchone()
    if row is None:
        return False
    if change.counters:
        bump_counters(conn, change.counters)
    if values[0] == "Enqueued":
        woken.add(row[1])
    if release and row[2]:
        release_children(conn, woken, values[8], values[0], values[1], change)
    return True


def bump_counters(conn: sqlite3.Connection, counters: Sequence[CounterIncrement]) -> None:
    """Add the increments (merged per key) to their counters, in one statement."""
    merged: dict[str, tuple[int, datetime | None]] = {}
    for inc in counters:
        total, _ = merged.get(inc.key, (0, None))
        merged[inc.key] = (total + inc.by, inc.expire_at)
    rows = [[key, by, to_us_or_none(expire)] for key, (by, expire) in merged.items()]
    conn.execute(BUMP_COUNTERS, (dumps(rows),))


def merge_params(text: str, updates: Mapping[str, Any]) -> str:
    merged = loads(text)
    merged.update(updates)
    return dumps(merged)
