"""SQLiteStorage: the embedded, zero-setup default storage (stdlib sqlite3, one file, WAL).

URLs:

    sqlite:///relative/path.db       relative to the working directory
    sqlite:////absolute/path.db      (four slashes: the path itself starts with "/")
    sqlite://:memory:                a PRIVATE TEMPORARY FILE, deleted by close(); for tests.
                                     Not SQLite's ":memory:" database, which one connection
                                     owns: this storage uses several connections (one per
                                     thread, plus a writer), and they must share the data.

Options (URL query string, or keyword arguments of `from_url`, which win; anything else is
refused with StorageURLError): busy_timeout (ms SQLite waits for a lock, default 5000),
retry_timeout (s a busy transaction is retried with jittered back-off, default 60),
poll_interval (s between looks for jobs enqueued by other processes, default 0.05),
synchronous (OFF, NORMAL, FULL or EXTRA; default NORMAL: in WAL mode a committed transaction
survives a process crash, and only the last ones may be lost on a power loss), migrate
(default true). Storages of one file in one process share one writer connection, opened with
the options of the first of them that writes.

The file belongs to stoker: it refuses a database that holds other applications' tables, and
keeps its schema version in PRAGMA user_version. Next to it live SQLite's -wal and -shm files
and stoker's -lock file.

How it works:

- WAL journal: readers never block the writer nor each other. Each write is ONE statement in a
  `BEGIN IMMEDIATE` transaction: create (bulk: one executemany), claim (find + Processing),
  change state (compare-and-set on state and state_id, with counters, expiry and the release
  of continuations). The current state lives in the job row; a trigger files the previous
  one into the history, and triggers keep the per-state counts, so counts never scan jobs.
- Reads use one connection per thread (closed when the thread ends, or by close()). Writes of
  every thread of a process go through one writer connection, whose page cache thus stays
  warm, and are group-committed: the thread that gets the write lock runs all pending writes
  in one transaction (a write that raises is undone alone). Processes take turns through
  flock() on the -lock file, which hands over at once where SQLite's busy handler would sleep
  1, 2, 5, ... ms; anything else holding the database longer than busy_timeout gets the
  whole transaction retried, so "database is locked" never reaches callers (after
  retry_timeout they get StorageBusyError).
- Checkpoints run outside the write lock (SQLite's automatic ones would run inside COMMIT,
  every writer waiting for their fsync() calls); only the tail is copied with writers held
  off, so the WAL starts over instead of growing.
- Job ids are the text of an AUTOINCREMENT integer (never reused); a job's `state_id` numbers
  its states (1, 2, 3, ...): with the job id, a fencing token. Times are integer
  microseconds since the epoch, UTC.
- Wake-up: an enqueue in this process wakes `wait_for_jobs` at once (a Condition and per-queue
  generation counters shared by the process's storages of the file; a generation taken at
  fetch time means an enqueue between a fetch and the wait is not lost). Other processes'
  commits are noticed through `PRAGMA data_version` every poll_interval and wake a waiter when
  its queues have work; idle workers look at random phases, so one of many notices sooner.
- Schema: versioned with PRAGMA user_version; migrations run at open inside BEGIN IMMEDIATE
  and re-check the version, so several processes opening a new file at once migrate it once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from stoker.core.errors import StorageBusyError, StorageClosedError
from stoker.core.records import Claim, NewJob, RecurringRecord, ServerRecord
from stoker.storage.sqlite.batches import SQLiteBatches
from stoker.storage.sqlite.codec import dumps, dumps_mapping, to_us, to_us_or_none
from stoker.storage.sqlite.connection import SQLiteDatabase
from stoker.storage.sqlite.jobs import SQLiteJobWrites, insert_jobs
from stoker.storage.sqlite.limits import SQLiteLimits
from stoker.storage.sqlite.monitor import RECURRING_COLUMNS, SQLiteMonitorReads, recurring_record
from stoker.storage.sqlite.url import SQLiteOptions, parse_sqlite_url

__all__ = ["SQLiteOptions", "SQLiteStorage", "StorageBusyError", "StorageClosedError"]

SAVE_RECURRING = """
    INSERT INTO recurring (id, cron, timezone, function, args, kwargs, queue, params, next_run,
        created_at, misfire, paused, last_run, last_job_id, error)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
        function = excluded.function, args = excluded.args, kwargs = excluded.kwargs,
        queue = excluded.queue, params = excluded.params, next_run = excluded.next_run,
        misfire = excluded.misfire, paused = excluded.paused, error = excluded.error"""
ANNOUNCE_SERVER = """
    INSERT INTO server (id, hostname, pid, workers, queues, started_at, heartbeat_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
        workers = excluded.workers, queues = excluded.queues, started_at = excluded.started_at,
        heartbeat_at = excluded.heartbeat_at"""
ACQUIRE_LOCK = """
    INSERT INTO lock (name, owner, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
    WHERE lock.owner = excluded.owner OR lock.expires_at <= ?
    RETURNING name"""


class SQLiteStorage(SQLiteJobWrites, SQLiteLimits, SQLiteBatches, SQLiteMonitorReads):
    """Storage in one SQLite file, for one host (many threads and processes); see the module
    docstring for URLs, options and how it works."""

    def __init__(self, path: str, options: SQLiteOptions | None = None) -> None:
        self._db = SQLiteDatabase(path, options or SQLiteOptions())

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStorage:
        """`sqlite:///relative.db`, `sqlite:////absolute.db` or `sqlite://:memory:`, with
        options in the query string or as keyword arguments (which win)."""
        path, parsed = parse_sqlite_url(url, options)
        return cls(path, parsed)

    @property
    def path(self) -> str:
        """The database file (for `sqlite://:memory:`, the private temporary file)."""
        return self._db.path

    def migrate(self) -> int:
        """Apply pending schema migrations (safe from many processes at once)."""
        return self._db.migrate()

    # --- recurring jobs -----------------------------------------------------------------------
    def save_recurring(self, record: RecurringRecord) -> None:
        values = (
            record.id, record.cron, record.timezone, record.function, record.args,
            record.kwargs, record.queue, dumps_mapping(record.params),
            to_us_or_none(record.next_run), to_us(record.created_at), record.misfire,
            int(record.paused), to_us_or_none(record.last_run), record.last_job_id, record.error,
        )  # fmt: skip
        self._changed(SAVE_RECURRING, values)

    def remove_recurring(self, recurring_id: str) -> bool:
        return self._changed("DELETE FROM recurring WHERE id = ?", (recurring_id,))

    def set_recurring_paused(
        self, recurring_id: str, paused: bool, next_run: datetime | None
    ) -> bool:
        values = (int(paused), to_us_or_none(next_run), recurring_id)
        return self._changed("UPDATE recurring SET paused = ?, next_run = ? WHERE id = ?", values)

    def due_recurring(self, now: datetime, limit: int) -> list[RecurringRecord]:
        rows = self._all(
            RECURRING_COLUMNS + " WHERE NOT paused AND next_run <= ? ORDER BY next_run, id LIMIT ?",
            (to_us(now), max(0, limit)),
        )
        return [recurring_record(row) for row in rows]

    def fire_recurring(
        self,
        recurring_id: str,
        expected_next_run: datetime,
        next_run: datetime | None,
        jobs: Sequence[NewJob],
        now: datetime,
    ) -> list[str] | None:
        claim = (to_us_or_none(next_run), recurring_id, to_us(expected_next_run))

        def fire(conn: sqlite3.Connection, woken: set[str]) -> list[str] | None:
            # The compare-and-set on next_run makes a cron occurrence fire once, whichever
            # server's scheduler gets here first.
            won = conn.execute(
                "UPDATE recurring SET next_run = ? WHERE id = ? AND next_run = ? AND NOT paused",
                claim,
            ).rowcount
            if not won:
                return None
            ids = insert_jobs(conn, woken, jobs) if jobs else []
            if ids:
                conn.execute(
                    "UPDATE recurring SET last_run = ?, last_job_id = ? WHERE id = ?",
                    (to_us(now), ids[-1], recurring_id),
                )
            return ids

        return self._db.write(fire)

    def record_recurring_error(self, recurring_id: str, error: str | None) -> None:
        self._changed("UPDATE recurring SET error = ? WHERE id = ?", (error, recurring_id))

    # --- servers --------------------------------------------------------------------------------
    def announce_server(self, server: ServerRecord) -> None:
        values = (
            server.id, server.hostname, server.pid, server.workers, dumps(list(server.queues)),
            to_us(server.started_at), to_us(server.heartbeat_at),
        )  # fmt: skip
        self._changed(ANNOUNCE_SERVER, values)

    def heartbeat(self, server_id: str, now: datetime) -> bool:
        values = (to_us(now), server_id)
        return self._changed("UPDATE server SET heartbeat_at = ? WHERE id = ?", values)

    def remove_server(self, server_id: str) -> None:
        self._changed("DELETE FROM server WHERE id = ?", (server_id,))

    def remove_dead_servers(self, heartbeat_before: datetime) -> list[str]:
        before = (to_us(heartbeat_before),)
        rows = self._db.write(
            lambda conn, _: conn.execute(
                "DELETE FROM server WHERE heartbeat_at < ? RETURNING id", before
            ).fetchall()
        )
        return sorted(row[0] for row in rows)

    def claimed_jobs(self, server_id: str, worker_id: str) -> list[Claim]:
        rows = self._db.read(
            lambda conn: conn.execute(
                # `state <> 'Enqueued'` lets SQLite use the partial index job_by_state.
                "SELECT id, queue, state_id FROM job WHERE state = 'Processing' "
                "AND state <> 'Enqueued' AND server_id = ? "
                "AND json_extract(data, '$.worker_id') = ? ORDER BY id",
                (server_id, worker_id),
            ).fetchall()
        )
        return [Claim(str(row[0]), row[1], int(row[2])) for row in rows]

    # --- locks --------------------------------------------------------------------------------
    def acquire_lock(self, name: str, owner: str, ttl: float, now: datetime) -> bool:
        at = to_us(now)
        values = (name, owner, to_us(now + timedelta(seconds=ttl)), at)
        rows = self._db.write(lambda conn, _: conn.execute(ACQUIRE_LOCK, values).fetchall())
        return bool(rows)

    def release_lock(self, name: str, owner: str) -> None:
        self._changed("DELETE FROM lock WHERE name = ? AND owner = ?", (name, owner))

    def _changed(self, sql: str, values: Sequence[Any]) -> bool:
        """Run one write statement in its own transaction; True if it changed a row."""
        return self._db.write(lambda conn, _: conn.execute(sql, values).rowcount > 0)

    def close(self) -> None:
        self._db.close()
