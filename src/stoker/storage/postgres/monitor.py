"""Read-only Monitor queries of the PostgreSQL storage (dashboard, CLI, App.get_job)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

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
    like_pattern,
    merge_id_match,
    page_of,
    searched_id,
)
from stoker.core.states import STATE_NAMES
from stoker.storage.common.due import check_by_due, latest_first
from stoker.storage.postgres.db import Conn, PostgresBase, parse_job_id

COLUMN_FRAGMENTS = {
    "job_columns": """
    j.id, p.function, p.args, p.kwargs, j.queue, j.params, j.created_at, h.name, h.created_at,
    h.reason, h.data, j.state_id, j.expire_at, j.parent_id, j.progress""",
    "recurring_columns": """
    id, cron, timezone, function, args, kwargs, queue, params, next_run, created_at, misfire,
    paused, last_run, last_job_id, error""",
}

# Counts come from the sharded state_count rows (a few rows per live connection), never from
# scanning jobs. Listing pages walk job_by_state (or job_enqueued for a queue) in order.
MONITOR_QUERIES: dict[str, str] = {
    "count_by_state": "SELECT state, sum(n) FROM {s}.state_count GROUP BY state",
    "count_state": "SELECT coalesce(sum(n), 0) FROM {s}.state_count WHERE state = %(state)s",
    "count_state_queue": """
        SELECT coalesce(sum(n), 0) FROM {s}.state_count
        WHERE state = %(state)s AND queue = %(queue)s""",
    "queue_lengths": """
        SELECT queue, sum(n) FROM {s}.state_count WHERE state = 'Enqueued'
        GROUP BY queue HAVING sum(n) > 0""",
    "job_details": """
        SELECT {job_columns},
            (SELECT json_agg(json_build_array(s.name, s.created_at, s.reason, s.data)
                ORDER BY s.id) FROM {s}.job_state AS s WHERE s.job_id = j.id),
            (SELECT json_agg(json_build_array(l.created_at, l.message) ORDER BY l.id)
                FROM {s}.job_log AS l WHERE l.job_id = j.id),
            (SELECT array_agg(c.id ORDER BY c.id) FROM {s}.job AS c WHERE c.parent_id = j.id)
        FROM {s}.job AS j
        JOIN {s}.job_payload AS p ON p.job_id = j.id
        JOIN {s}.job_state AS h ON h.id = j.state_id
        WHERE j.id = %(id)s""",
    "job_states": "SELECT id, state, state_id FROM {s}.job WHERE id = ANY(%(ids)s::bigint[])",
    "list_servers": """
        SELECT id, hostname, pid, workers, queues, started_at, heartbeat_at
        FROM {s}.server ORDER BY id""",
    "processing_counts": """
        SELECT server_id, count(*) FROM {s}.job
        WHERE state = 'Processing' AND server_id IS NOT NULL GROUP BY server_id""",
    "list_recurring": "SELECT {recurring_columns} FROM {s}.recurring ORDER BY id",
    "get_recurring": "SELECT {recurring_columns} FROM {s}.recurring WHERE id = %(id)s",
    "due_recurring": """
        SELECT {recurring_columns} FROM {s}.recurring
        WHERE NOT paused AND next_run <= %(now)s ORDER BY next_run, id LIMIT %(limit)s""",
    "get_counters": """
        SELECT key, sum(value) FROM {s}.counter WHERE key = ANY(%(keys)s::text[]) GROUP BY key""",
}


def _where(queue: bool) -> sql.Composable:
    return sql.SQL(
        "k.state = %(state)s AND k.queue = %(queue)s" if queue else "k.state = %(state)s"
    )


def _list_query(queue: bool, newest_first: bool) -> str:
    """SQL of one page of list_jobs (each filter its own prepared statement, so the planner sees
    the real shape). The OFFSET is taken in a subquery that reads only (state_at, state_id),
    which job_by_state / job_enqueued hold: an index-only scan skips the rows before the page
    without touching the table, and the three joins run for the page's rows alone. state_id
    is the id of the job's current job_state row, which leads back to the job."""
    query = sql.SQL(
        "SELECT {{job_columns}} FROM (SELECT k.state_at, k.state_id FROM {{s}}.job AS k "
        "WHERE {where} ORDER BY k.state_at {order}, k.state_id {order} "
        "OFFSET %(offset)s LIMIT %(limit)s) AS page "
        "JOIN {{s}}.job_state AS h ON h.id = page.state_id "
        "JOIN {{s}}.job AS j ON j.id = h.job_id AND j.state_id = h.id "
        "JOIN {{s}}.job_payload AS p ON p.job_id = j.id "
        "ORDER BY page.state_at {order}, page.state_id {order}"
    )
    order = sql.SQL("DESC" if newest_first else "ASC")
    return query.format(where=_where(queue), order=order).as_string()


def _search_query(queue: bool) -> str:
    """Ids of the jobs whose function or arguments match, among the newest %(window)s of the
    state (see stoker.core.search): bounded by the window, whatever the number of jobs.
    The lateral subqueries (OFFSET 0 keeps them from being flattened) make each window row one
    primary-key lookup: as joins, the planner may hash-join a whole table for 10,000 rows."""
    query = sql.SQL(
        "SELECT page.state_at, page.state_id, h.job_id FROM (SELECT k.state_at, k.state_id "
        "FROM {{s}}.job AS k WHERE {where} ORDER BY k.state_at DESC, k.state_id DESC "
        "LIMIT %(window)s) AS page "
        "CROSS JOIN LATERAL (SELECT s.job_id FROM {{s}}.job_state AS s "
        "WHERE s.id = page.state_id OFFSET 0) AS h "
        "CROSS JOIN LATERAL (SELECT 1 FROM {{s}}.job_payload AS p WHERE p.job_id = h.job_id "
        "AND (p.function ILIKE %(pattern)s OR p.args ILIKE %(pattern)s "
        "OR p.kwargs ILIKE %(pattern)s) OFFSET 0) AS m "
        "ORDER BY page.state_at DESC, page.state_id DESC"
    )
    return query.format(where=_where(queue)).as_string()


def _search_id_query(queue: bool) -> str:
    query = sql.SQL(
        "SELECT k.state_at, k.state_id, k.id FROM {{s}}.job AS k "
        "WHERE k.id = %(search_id)s AND {where}"
    )
    return query.format(where=_where(queue)).as_string()


# Scheduled jobs by due time (list_jobs by_due=True, see stoker.storage.common.due): keys (run_at,
# id) from the partial index job_scheduled (run_at, id) WHERE state = 'Scheduled', an index-only
# range in either direction; the page's rows are then read by id. There is no per-queue due index:
# with a queue, the same ranges check each job's queue in the heap and stop at offset + limit
# matches, so a page reads the Scheduled jobs of every queue listed up to its last due time, not the
# whole schedule (unless the queue's jobs come last).
_DUE = "k.state = 'Scheduled'"
_DUE_QUEUE = "k.state = 'Scheduled' AND k.queue = %(queue)s"
_DUE_ORDER = {False: "k.run_at, k.id", True: "k.run_at DESC, k.id DESC"}
_DUE_SQL = {
    "keys": "SELECT k.run_at, k.id FROM {{s}}.job AS k WHERE {where} ORDER BY {order} "
    "OFFSET %(offset)s LIMIT %(limit)s",
    "later": "SELECT count(*) FROM {{s}}.job AS k WHERE {where} AND k.run_at > %(due)s",
    "tied": "SELECT k.id FROM {{s}}.job AS k WHERE {where} AND k.run_at = %(due)s "
    "ORDER BY k.id OFFSET %(skip)s LIMIT %(count)s",
}


def _due_query(kind: str, queue: bool, latest: bool = False) -> str:
    query = sql.SQL(_DUE_SQL[kind])
    where = sql.SQL(_DUE_QUEUE if queue else _DUE)
    return query.format(where=where, order=sql.SQL(_DUE_ORDER[latest])).as_string()


for _queue in (False, True):
    for _newest in (False, True):
        MONITOR_QUERIES[f"list_{_queue}_{_newest}"] = _list_query(_queue, _newest)
        MONITOR_QUERIES[f"due_keys_{_queue}_{_newest}"] = _due_query("keys", _queue, _newest)
    MONITOR_QUERIES[f"due_later_{_queue}"] = _due_query("later", _queue)
    MONITOR_QUERIES[f"due_tied_{_queue}"] = _due_query("tied", _queue)
    MONITOR_QUERIES[f"search_{_queue}"] = _search_query(_queue)
    MONITOR_QUERIES[f"search_id_{_queue}"] = _search_id_query(_queue)
MONITOR_QUERIES["jobs_by_ids"] = """
    SELECT {job_columns} FROM {s}.job AS j
    JOIN {s}.job_payload AS p ON p.job_id = j.id
    JOIN {s}.job_state AS h ON h.id = j.state_id
    WHERE j.id = ANY(%(ids)s::bigint[])"""


def job_record(row: Sequence[Any]) -> JobRecord:
    return JobRecord(
        id=str(row[0]),
        function=row[1],
        args=row[2],
        kwargs=row[3],
        queue=row[4],
        params=row[5],
        created_at=row[6],
        state=StateRecord(row[7], row[8], row[9], row[10]),
        state_id=int(row[11]),
        expire_at=row[12],
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
        params=row[7],
        next_run=row[8],
        created_at=row[9],
        misfire=row[10],
        paused=row[11],
        last_run=row[12],
        last_job_id=row[13],
        error=row[14],
    )


def _json_time(value: str) -> datetime:
    # json output of timestamptz is ISO 8601 in the session time zone (UTC, see postgres_db).
    return datetime.fromisoformat(value)


class PostgresMonitorReads(SearchedPages, PostgresBase):
    """Monitor: every query here is read-only and safe to retry."""

    def count_by_state(self) -> dict[str, int]:
        counts = dict.fromkeys(STATE_NAMES, 0)
        for state, total in self._fetchall("count_by_state"):
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
        if by_due:
            check_by_due(state, search)
            return self._due_page(queue, max(0, offset), max(0, limit), newest_first)
        if search:
            ids = page_of(self._search_ids(state, queue, search), offset, limit, newest_first)
            return self._records_by_ids(ids)
        params: dict[str, Any] = {"state": state, "queue": queue}
        params.update(offset=max(0, offset), limit=max(0, limit))
        name = f"list_{queue is not None}_{newest_first}"
        return [job_record(row) for row in self._fetchall(name, params)]

    def count_jobs(self, state: str, *, queue: str | None = None, search: str | None = None) -> int:
        if search:
            return len(self._search_ids(state, queue, search))
        params = {"state": state, "queue": queue}
        name = "count_state_queue" if queue is not None else "count_state"
        row = self._fetchone(name, params)
        return int(row[0]) if row else 0

    def _search_ids(self, state: str, queue: str | None, search: str) -> list[str]:
        params: dict[str, Any] = {"state": state, "queue": queue, "window": self.search_window}
        params["pattern"] = like_pattern(search.strip())
        has_queue = queue is not None
        rows = self._fetchall(f"search_{has_queue}", params)
        matches = [((at, state_id), str(job_id)) for at, state_id, job_id in rows]
        by_id = None
        params["search_id"] = parse_job_id(searched_id(search))
        if params["search_id"] is not None:
            row = self._fetchone(f"search_id_{has_queue}", params)
            by_id = ((row[0], row[1]), str(row[2])) if row else None
        return merge_id_match(matches, by_id)

    def _records_by_ids(self, ids: Sequence[str]) -> list[JobRecord]:
        if not ids:
            return []
        rows = self._fetchall("jobs_by_ids", {"ids": [int(job_id) for job_id in ids]})
        found = {str(row[0]): job_record(row) for row in rows}
        return [found[job_id] for job_id in ids if job_id in found]

    def _due_page(
        self, queue: str | None, offset: int, limit: int, latest: bool
    ) -> list[JobRecord]:
        """A page of Scheduled jobs by due time (see stoker.storage.common.due): all its reads in
        one REPEATABLE READ transaction, so every one of them sees the same jobs."""
        if not limit:
            return []
        params: dict[str, Any] = {"queue": queue, "offset": offset, "limit": limit}
        has_queue = queue is not None

        def read(conn: Conn) -> list[JobRecord]:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            keys = conn.execute(self._q[f"due_keys_{has_queue}_{latest}"], params).fetchall()
            ids = [job_id for _, job_id in keys]
            if latest:
                later, tied = self._q[f"due_later_{has_queue}"], self._q[f"due_tied_{has_queue}"]

                def count_later(due: datetime) -> int:
                    row = conn.execute(later, {**params, "due": due}).fetchone()
                    return int(row[0]) if row else 0

                def ids_due_at(due: datetime, skip: int, count: int) -> list[int]:
                    values = {**params, "due": due, "skip": skip, "count": count}
                    return [row[0] for row in conn.execute(tied, values).fetchall()]

                ids = latest_first(keys, offset, count_later, ids_due_at)
            rows = conn.execute(self._q["jobs_by_ids"], {"ids": ids}).fetchall() if ids else []
            found = {row[0]: job_record(row) for row in rows}
            return [found[job_id] for job_id in ids if job_id in found]

        return self._db.run(read, transaction=True)

    def job_details(self, job_id: str) -> JobDetails | None:
        num = parse_job_id(job_id)
        row = self._fetchone("job_details", {"id": num}) if num is not None else None
        if row is None:
            return None
        history = tuple(
            StateRecord(name, _json_time(at), reason, data)
            for name, at, reason, data in _as_json(row[15]) or ()
        )
        logs = tuple(LogLine(_json_time(at), message) for at, message in _as_json(row[16]) or ())
        return JobDetails(
            job=job_record(row),
            history=history,
            logs=logs,
            continuations=tuple(str(child) for child in row[17] or ()),
        )

    def job_states(self, job_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        wanted = {num: job_id for job_id in job_ids if (num := parse_job_id(job_id)) is not None}
        if not wanted:
            return {}
        rows = self._fetchall("job_states", {"ids": sorted(wanted)})
        return {wanted[row[0]]: (row[1], int(row[2])) for row in rows}

    def list_servers(self) -> list[ServerRecord]:
        return [
            ServerRecord(row[0], row[1], row[2], row[3], tuple(row[4]), row[5], row[6])
            for row in self._fetchall("list_servers")
        ]

    def processing_counts(self) -> dict[str, int]:
        return {row[0]: int(row[1]) for row in self._fetchall("processing_counts")}

    def queue_lengths(self) -> dict[str, int]:
        return {row[0]: int(row[1]) for row in self._fetchall("queue_lengths")}

    def list_recurring(self) -> list[RecurringRecord]:
        return [recurring_record(row) for row in self._fetchall("list_recurring")]

    def get_recurring(self, recurring_id: str) -> RecurringRecord | None:
        row = self._fetchone("get_recurring", {"id": recurring_id})
        return recurring_record(row) if row else None

    def get_counters(self, keys: Sequence[str]) -> dict[str, int]:
        values = dict.fromkeys(keys, 0)
        if keys:
            for key, total in self._fetchall("get_counters", {"keys": list(keys)}):
                values[key] = int(total)
        return values


def _as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value
