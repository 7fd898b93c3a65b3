"""Read-only Monitor queries of the SQLite storage (dashboard, CLI, App.get_job)."""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Sequence
from itertools import islice
from typing import Any

from stoker.core.records import (
    JobDetails,
    JobRecord,
    LogLine,
    RecurringRecord,
    ServerRecord,
    StateRecord,
)
from stoker.core.search import (
    SearchedPages,
    ascii_lower,
    merge_id_match,
    page_of,
    searched_id,
    text_matches,
)
from stoker.core.states import STATE_NAMES
from stoker.storage.common.due import check_by_due, latest_first
from stoker.storage.sqlite.codec import from_us, from_us_or_none, loads, parse_job_id
from stoker.storage.sqlite.connection import SQLiteDatabase

JOB_COLUMNS = """
    SELECT j.id, j.function, j.args, j.kwargs, j.queue, j.params, j.created_at, j.state,
        j.state_at, j.reason, j.data, j.state_id, j.expire_at, j.parent_id, j.progress
    FROM job AS j"""
RECURRING_COLUMNS = """
    SELECT id, cron, timezone, function, args, kwargs, queue, params, next_run, created_at,
        misfire, paused, last_run, last_job_id, error
    FROM recurring"""

# Every filter combination is its own constant statement, so each gets its own plan: pages walk
# the partial index job_by_state (state, state_at) in order, or job_enqueued (queue, state_at)
# for Enqueued jobs; SQLite only picks a partial index whose condition the query spells out.
_STATE = " WHERE j.state = ? AND j.state <> 'Enqueued'"
_STATE_QUEUE = " WHERE j.state = ? AND j.state <> 'Enqueued' AND j.queue = ?"
_ENQUEUED = " WHERE j.state = 'Enqueued'"
_ENQUEUED_QUEUE = " WHERE j.state = 'Enqueued' AND j.queue = ?"
_ORDER = {
    True: " ORDER BY j.state_at DESC, j.id DESC LIMIT ? OFFSET ?",
    False: " ORDER BY j.state_at, j.id LIMIT ? OFFSET ?",
}
_FILTERS = {
    "state": _STATE,
    "state_queue": _STATE_QUEUE,
    "enqueued": _ENQUEUED,
    "enqueued_queue": _ENQUEUED_QUEUE,
}
ENQUEUED_QUEUES = "SELECT queue FROM state_count WHERE state = 'Enqueued' AND n > 0"
# Every Enqueued job without a search is paged by merging the queues' ranges (_enqueued_page).
LIST_JOBS = {
    (kind, newest): JOB_COLUMNS + where + _ORDER[newest]
    for kind, where in _FILTERS.items()
    for newest in (False, True)
    if kind != "enqueued"
}
# Text search reads the newest rows of the state's index range (stoker.core.search) and
# matches them here; every Enqueued job is again a merge of the queues' ranges.
_WINDOW_COLUMNS = "SELECT j.id, j.state_at, j.function, j.args, j.kwargs FROM job AS j"
SEARCH_WINDOW_SQL = {
    kind: _WINDOW_COLUMNS + where + " ORDER BY j.state_at DESC, j.id DESC LIMIT ?"
    for kind, where in _FILTERS.items()
    if kind != "enqueued"
}
_ID_COLUMNS = "SELECT j.id, j.state_at FROM job AS j"
# Keys of one queue's Enqueued jobs in page order: the index job_enqueued covers them.
ENQUEUED_KEYS = {newest: _ID_COLUMNS + _ENQUEUED_QUEUE + _ORDER[newest] for newest in (False, True)}
SEARCH_ID = {kind: _ID_COLUMNS + where + " AND j.id = ?" for kind, where in _FILTERS.items()}
# Scheduled jobs by due time (list_jobs by_due=True, see stoker.storage.common.due): keys (run_at,
# id) straight from the partial index job_run_at, which holds exactly the Scheduled jobs (run_at is
# NULL in every other state), in index order both ways. There is no per-queue due index: with a
# queue, the same ranges check each job's queue in its row and stop at offset + limit matches, so a
# page reads the Scheduled jobs of every queue listed up to its last due time, not the whole
# schedule (unless the queue's jobs come last).
_DUE = {False: " WHERE j.run_at IS NOT NULL", True: " WHERE j.run_at IS NOT NULL AND j.queue = ?"}
_DUE_ORDER = {False: " ORDER BY j.run_at, j.id", True: " ORDER BY j.run_at DESC, j.id DESC"}
_DUE_KEYS = "SELECT j.run_at, j.id FROM job AS j"
DUE_KEYS = {
    (queue, latest): _DUE_KEYS + where + _DUE_ORDER[latest] + " LIMIT ? OFFSET ?"
    for queue, where in _DUE.items()
    for latest in (False, True)
}
_DUE_COUNT = "SELECT count(*) FROM job AS j"
DUE_LATER = {queue: _DUE_COUNT + where + " AND j.run_at > ?" for queue, where in _DUE.items()}
_DUE_IDS = "SELECT j.id FROM job AS j"
DUE_TIED = {
    queue: _DUE_IDS + where + " AND j.run_at = ? ORDER BY j.id LIMIT ? OFFSET ?"
    for queue, where in _DUE.items()
}
_JSON_IDS = "SELECT value FROM json_each(?)"
JOBS_BY_IDS = JOB_COLUMNS + " WHERE j.id IN (" + _JSON_IDS + ")"
JOB = JOB_COLUMNS + " WHERE j.id = ?"
# Earlier states; the current one is in the job row.
HISTORY = "SELECT name, created_at, reason, data FROM job_state WHERE job_id = ? ORDER BY seq"
LOGS = "SELECT created_at, message FROM job_log WHERE job_id = ? ORDER BY id"
CHILD_IDS = "SELECT id FROM job WHERE parent_id = ? ORDER BY id"


def _key_order(row: Sequence[Any]) -> tuple[int, int]:
    return row[1], row[0]  # (state_at, id) of an (id, state_at) key: the order of every page


def job_record(row: Sequence[Any]) -> JobRecord:
    return JobRecord(
        id=str(row[0]),
        function=row[1],
        args=row[2],
        kwargs=row[3],
        queue=row[4],
        params=loads(row[5]),
        created_at=from_us(row[6]),
        state=StateRecord(row[7], from_us(row[8]), row[9], loads(row[10])),
        state_id=int(row[11]),
        expire_at=from_us_or_none(row[12]),
        parent_id=str(row[13]) if row[13] is not None else None,
        progress=row[14],
    )


def recurring_record(row: Sequence[Any]) -> RecurringRecord:
    return RecurringRecord(
        id=row[0],
        cron=row[1],
        timezone=row[2],
        function=row[3],
        args=row[4],
        kwargs=row[5],
        queue=row[6],
        params=loads(row[7]),
        next_run=from_us_or_none(row[8]),
        created_at=from_us(row[9]),
        misfire=row[10],
        paused=bool(row[11]),
        last_run=from_us_or_none(row[12]),
        last_job_id=row[13],
        error=row[14],
    )


def _filter(state: str, queue: str | None) -> tuple[str, list[Any]]:
    """(filter kind, its parameters) of a list_jobs/count_jobs call."""
    if state == "Enqueued":
        return ("enqueued", []) if queue is None else ("enqueued_queue", [queue])
    return ("state", [state]) if queue is None else ("state_queue", [state, queue])


def _rows_by_ids(conn: sqlite3.Connection, ids: Sequence[int]) -> list[Any]:
    """The job rows of `ids`, in this order (ids no longer stored are left out)."""
    rows = conn.execute(JOBS_BY_IDS, (json.dumps(list(ids)),)).fetchall()
    by_id = {row[0]: row for row in rows}
    return [by_id[job_id] for job_id in ids if job_id in by_id]


class SQLiteMonitorReads(SearchedPages):
    """Monitor: read-only, lock-free in WAL (readers never wait for writers)."""

    _db: SQLiteDatabase

    def _all(self, sql: str, values: Sequence[Any] = ()) -> list[Any]:
        return self._db.read(lambda conn: conn.execute(sql, values).fetchall())

    def _one(self, sql: str, values: Sequence[Any] = ()) -> Any:
        return self._db.read(lambda conn: conn.execute(sql, values).fetchone())

    def count_by_state(self) -> dict[str, int]:
        counts = dict.fromkeys(STATE_NAMES, 0)
        for state, total in self._all("SELECT state, sum(n) FROM state_count GROUP BY state"):
            counts[state] = int(total)
        return counts

    def list_jobs(
        self,
        state: str,
        *,
        queue: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
        by_due: bool = False,
    ) -> list[JobRecord]:
        offset, limit = max(0, offset), max(0, limit)
        if by_due:
            check_by_due(state, search)
            return [job_record(row) for row in self._due_page(queue, offset, limit, newest_first)]
        if search:
            ids = page_of(self._search_ids(state, queue, search), offset, limit, newest_first)
            return self._records_by_ids(ids)
        kind, values = _filter(state, queue)
        if kind == "enqueued":
            rows = self._enqueued_page(offset, limit, newest_first)
        else:
            rows = self._all(LIST_JOBS[(kind, newest_first)], [*values, limit, offset])
        return [job_record(row) for row in rows]

    def _search_ids(self, state: str, queue: str | None, search: str) -> list[str]:
        kind, values = _filter(state, queue)
        needle = ascii_lower(search.strip())
        window = max(0, self.search_window)
        if kind == "enqueued":
            page = self._enqueued_page(0, window, True)
            rows = [(row[0], row[8], row[1], row[2], row[3]) for row in page]
        else:
            rows = self._all(SEARCH_WINDOW_SQL[kind], [*values, window])
        matches = [
            ((at, job_id), str(job_id))
            for job_id, at, function, args, kwargs in rows
            if text_matches(needle, function, args, kwargs)
        ]
        by_id = None
        number = parse_job_id(searched_id(search))
        if number is not None:
            row = self._one(SEARCH_ID[kind], [*values, number])
            by_id = ((row[1], row[0]), str(row[0])) if row else None
        return merge_id_match(matches, by_id)

    def _records_by_ids(self, ids: Sequence[str]) -> list[JobRecord]:
        if not ids:
            return []
        rows = self._all(JOBS_BY_IDS, (json.dumps([int(job_id) for job_id in ids]),))
        found = {str(row[0]): job_record(row) for row in rows}
        return [found[job_id] for job_id in ids if job_id in found]

    def _enqueued_page(self, offset: int, limit: int, newest_first: bool) -> list[Any]:
        """A page of every queue's Enqueued jobs: the keys (id, state_at) of the first
        offset+limit of each queue, read from the index job_enqueued alone, merged; then the
        page's rows by id. Neither a sort of every Enqueued job nor a row read per skipped job."""
        if not limit:
            return []
        sql = ENQUEUED_KEYS[newest_first]

        def read(conn: sqlite3.Connection) -> list[Any]:
            queues = [row[0] for row in conn.execute(ENQUEUED_QUEUES).fetchall()]
            ranges = [conn.execute(sql, (queue, offset + limit, 0)).fetchall() for queue in queues]
            merged = heapq.merge(*ranges, key=_key_order, reverse=newest_first)
            ids = [row[0] for row in islice(merged, offset, offset + limit)]
            return _rows_by_ids(conn, ids)

        return self._db.snapshot_read(read)

    def _due_page(self, queue: str | None, offset: int, limit: int, latest: bool) -> list[Any]:
        """A page of Scheduled jobs by due time (see stoker.storage.common.due), in one snapshot."""
        if not limit:
            return []
        has_queue, values = queue is not None, [] if queue is None else [queue]

        def read(conn: sqlite3.Connection) -> list[Any]:
            keys = conn.execute(DUE_KEYS[(has_queue, latest)], [*values, limit, offset]).fetchall()
            if not latest:
                return _rows_by_ids(conn, [job_id for _, job_id in keys])

            def count_later(due: int) -> int:
                return int(conn.execute(DUE_LATER[has_queue], [*values, due]).fetchone()[0])

            def tied(due: int, skip: int, count: int) -> list[int]:
                rows = conn.execute(DUE_TIED[has_queue], [*values, due, count, skip]).fetchall()
                return [row[0] for row in rows]

            return _rows_by_ids(conn, latest_first(keys, offset, count_later, tied))

        return self._db.snapshot_read(read)

    def count_jobs(self, state: str, *, queue: str | None = None, search: str | None = None) -> int:
        if search:
            return len(self._search_ids(state, queue, search))
        if queue is None:
            row = self._one("SELECT sum(n) FROM state_count WHERE state = ?", (state,))
        else:
            row = self._one(
                "SELECT n FROM state_count WHERE state = ? AND queue = ?", (state, queue)
            )
        return int(row[0]) if row and row[0] is not None else 0

    def job_details(self, job_id: str) -> JobDetails | None:
        num = parse_job_id(job_id)
        if num is None:
            return None

        def read(conn: sqlite3.Connection) -> JobDetails | None:
            row = conn.execute(JOB, (num,)).fetchone()
            if row is None:
                return None
            history = conn.execute(HISTORY, (num,)).fetchall()
            logs = conn.execute(LOGS, (num,)).fetchall()
            children = conn.execute(CHILD_IDS, (num,)).fetchall()
            job = job_record(row)
            return JobDetails(
                job=job,
                history=(
                    *(
                        StateRecord(name, from_us(at), reason, loads(data))
                        for name, at, reason, data in history
                    ),
                    job.state,
                ),
                logs=tuple(LogLine(from_us(at), message) for at, message in logs),
                continuations=tuple(str(child[0]) for child in children),
            )

        return self._db.snapshot_read(read)

    def job_states(self, job_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        wanted = {num: job_id for job_id in job_ids if (num := parse_job_id(job_id)) is not None}
        if not wanted:
            return {}
        rows = self._all(
            "SELECT id, state, state_id FROM job WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(sorted(wanted)),),
        )
        return {wanted[row[0]]: (row[1], int(row[2])) for row in rows}

    def list_servers(self) -> list[ServerRecord]:
        rows = self._all(
            "SELECT id, hostname, pid, workers, queues, started_at, heartbeat_at "
            "FROM server ORDER BY id"
        )
        return [
            ServerRecord(
                id=row[0],
                hostname=row[1],
                pid=row[2],
                workers=row[3],
                queues=tuple(loads(row[4])),
                started_at=from_us(row[5]),
                heartbeat_at=from_us(row[6]),
            )
            for row in rows
        ]

    def processing_counts(self) -> dict[str, int]:
        rows = self._all(
            "SELECT server_id, count(*) FROM job WHERE state = 'Processing' "
            "AND state <> 'Enqueued' AND server_id IS NOT NULL GROUP BY server_id"
        )
        return {row[0]: int(row[1]) for row in rows}

    def queue_lengths(self) -> dict[str, int]:
        rows = self._all("SELECT queue, n FROM state_count WHERE state = 'Enqueued' AND n > 0")
        return {row[0]: int(row[1]) for row in rows}

    def list_recurring(self) -> list[RecurringRecord]:
        return [recurring_record(row) for row in self._all(RECURRING_COLUMNS + " ORDER BY id")]

    def get_recurring(self, recurring_id: str) -> RecurringRecord | None:
        row = self._one(RECURRING_COLUMNS + " WHERE id = ?", (recurring_id,))
        return recurring_record(row) if row else None

    def get_counters(self, keys: Sequence[str]) -> dict[str, int]:
        values = dict.fromkeys(keys, 0)
        if keys:
            rows = self._all(
                "SELECT key, value FROM counter WHERE key IN (SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),),
            )
            for key, total in rows:
                values[key] = int(total)
        return values
