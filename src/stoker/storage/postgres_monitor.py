"""Read-only Monitor queries of the PostgreSQL storage (dashboard, CLI, App.get_job)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

from stoker.storage.base import (
    STATE_NAMES,
    JobDetails,
    JobRecord,
    LogLine,
    RecurringRecord,
    ServerRecord,
    StateRecord,
)
from stoker.storage.postgres_db import PostgresBase, parse_job_id

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


def _list_query(queue: bool, search: bool, newest_first: bool, count: bool) -> str:
    """SQL of list_jobs/count_jobs for one combination of filters (each its own prepared
    statement, so the planner sees the real shape instead of `x IS NULL OR ...`)."""
    where = [sql.SQL("j.state = %(state)s")]
    if queue:
        where.append(sql.SQL("j.queue = %(queue)s"))
    if search:
        where.append(
            sql.SQL(
                "(j.id = %(search_id)s OR p.function ILIKE %(pattern)s "
                "OR p.args ILIKE %(pattern)s OR p.kwargs ILIKE %(pattern)s)"
            )
        )
    condition = sql.SQL(" AND ").join(where)
    if count:
        query = sql.SQL(
            "SELECT count(*) FROM {{s}}.job AS j JOIN {{s}}.job_payload AS p ON p.job_id = j.id "
            "WHERE {condition}"
        ).format(condition=condition)
        return query.as_string()
    direction = sql.SQL("DESC" if newest_first else "ASC")
    query = sql.SQL(
        "SELECT {{job_columns}} FROM {{s}}.job AS j "
        "JOIN {{s}}.job_payload AS p ON p.job_id = j.id "
        "JOIN {{s}}.job_state AS h ON h.id = j.state_id "
        "WHERE {condition} ORDER BY j.state_at {direction}, j.state_id {direction} "
        "OFFSET %(offset)s LIMIT %(limit)s"
    ).format(condition=condition, direction=direction)
    return query.as_string()


for _queue in (False, True):
    for _search in (False, True):
        for _newest in (False, True):
            MONITOR_QUERIES[f"list_{_queue}_{_search}_{_newest}"] = _list_query(
                _queue, _search, _newest, count=False
            )
        MONITOR_QUERIES[f"count_{_queue}_{_search}"] = _list_query(
            _queue, _search, True, count=True
        )


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _job_record(row: Sequence[Any]) -> JobRecord:
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


class MonitorReads(PostgresBase):
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
    ) -> list[JobRecord]:
        params = self._filter_params(state, queue, search)
        params.update(offset=max(0, offset), limit=max(0, limit))
        name = f"list_{queue is not None}_{bool(search)}_{newest_first}"
        return [_job_record(row) for row in self._fetchall(name, params)]

    def count_jobs(self, state: str, *, queue: str | None = None, search: str | None = None) -> int:
        params = self._filter_params(state, queue, search)
        if search:
            name = f"count_{queue is not None}_True"
        else:
            name = "count_state_queue" if queue is not None else "count_state"
        row = self._fetchone(name, params)
        return int(row[0]) if row else 0

    @staticmethod
    def _filter_params(state: str, queue: str | None, search: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"state": state, "queue": queue}
        if search:
            params["search_id"] = parse_job_id(search)
            params["pattern"] = _like_pattern(search.strip())
        return params

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
            job=_job_record(row),
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
