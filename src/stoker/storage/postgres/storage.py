"""PostgresStorage: the PostgreSQL storage, for many servers on many hosts sharing one database."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg.types.json import Jsonb

from stoker.core.errors import StorageURLError
from stoker.core.records import Claim, NewJob, RecurringRecord, ServerRecord
from stoker.storage.common.urls import redact_url
from stoker.storage.postgres.batch_sql import BATCH_QUERIES
from stoker.storage.postgres.batches import PostgresBatches
from stoker.storage.postgres.batches_sql import BATCHES_QUERIES
from stoker.storage.postgres.db import Conn, PostgresDatabase
from stoker.storage.postgres.jobs import PostgresJobWrites
from stoker.storage.postgres.limits import LIMIT_QUERIES, PostgresLimits
from stoker.storage.postgres.monitor import (
    COLUMN_FRAGMENTS,
    MONITOR_QUERIES,
    PostgresMonitorReads,
    recurring_record,
)
from stoker.storage.postgres.notify import Listener
from stoker.storage.postgres.schema import migrate
from stoker.storage.postgres.sql import WRITE_QUERIES, jobs_channel, render, settled_channel
from stoker.storage.postgres.upkeep_sql import UPKEEP_QUERIES

__all__ = ["PostgresStorage"]

DEFAULT_SCHEMA = "stoker"
_SCHEMA_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")

_OTHER_QUERIES: dict[str, str] = {
    # Creates with one idempotency key queue on this lock (held to the commit), so the second
    # finds the first's key row: its own statement sees what committed before it started.
    "lock_key": "SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(%(key)s))",
    "find_key": """
        SELECT job_id FROM {s}.idempotency WHERE key = %(key)s AND expire_at > %(now)s""",
    "save_key": """
        INSERT INTO {s}.idempotency (key, job_id, expire_at) VALUES (%(key)s, %(id)s, %(x)s)
        ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id,
            expire_at = excluded.expire_at""",
    "delete_expired_keys": "DELETE FROM {s}.idempotency WHERE expire_at <= %(now)s",
    "find_unique": """
        SELECT u.job_id FROM {s}.unique_key AS u JOIN {s}.job AS j ON j.id = u.job_id
        WHERE u.key = %(key)s AND j.state = ANY(%(live)s)""",
    "save_unique": """
        INSERT INTO {s}.unique_key (key, job_id) VALUES (%(key)s, %(id)s)
        ON CONFLICT (key) DO UPDATE SET job_id = excluded.job_id""",
    # An UPDATE, not FOR SHARE: the new row version tells a concurrent CHANGE_STATES of the
    # parent that a child appeared after its snapshot (see postgres_batch_sql).
    "lock_parents": """
        UPDATE {s}.job AS j SET children = j.children + c.n
        FROM unnest(%(ids)s::bigint[], %(counts)s::integer[]) AS c (id, n)
        WHERE j.id = c.id
        RETURNING j.id, j.state""",
    "set_progress": "UPDATE {s}.job SET progress = %(progress)s WHERE id = %(id)s",
    # A server's folded statistics, in this backend's shard row (as CHANGE_STATES does).
    "add_counters": """
        INSERT INTO {s}.counter AS c (key, shard, value, expire_at)
        SELECT k, pg_backend_pid(), sum(b), max(e)
        FROM json_to_recordset(%(counters)s::json) AS x (k text, b bigint, e timestamptz)
        GROUP BY k
        ON CONFLICT (key, shard) DO UPDATE SET value = c.value + excluded.value,
            expire_at = coalesce(excluded.expire_at, c.expire_at)""",
    "append_log": """
        INSERT INTO {s}.job_log (job_id, created_at, message)
        VALUES (%(id)s, %(at)s, %(message)s)""",
    # job_processing (server_id WHERE state = 'Processing') finds the server's few jobs.
    "claimed_jobs": """
        SELECT j.id, j.queue, j.state_id FROM {s}.job AS j
        JOIN {s}.job_state AS h ON h.id = j.state_id
        WHERE j.state = 'Processing' AND j.server_id = %(server)s
            AND h.data ->> 'worker_id' = %(worker)s
        ORDER BY j.id""",
    "try_fold_lock": "SELECT pg_try_advisory_xact_lock(%(lock_class)s, hashtext(%(key)s))",
    "save_recurring": """
        INSERT INTO {s}.recurring (id, cron, timezone, function, args, kwargs, queue, params,
            next_run, created_at, misfire, paused, last_run, last_job_id, error)
        VALUES (%(id)s, %(cron)s, %(timezone)s, %(function)s, %(args)s, %(kwargs)s, %(queue)s,
            %(params)s, %(next_run)s, %(created_at)s, %(misfire)s, %(paused)s, %(last_run)s,
            %(last_job_id)s, %(error)s)
        ON CONFLICT (id) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone,
            function = excluded.function, args = excluded.args, kwargs = excluded.kwargs,
            queue = excluded.queue, params = excluded.params, next_run = excluded.next_run,
            misfire = excluded.misfire, paused = excluded.paused, error = excluded.error""",
    "remove_recurring": "DELETE FROM {s}.recurring WHERE id = %(id)s RETURNING id",
    "pause_recurring": """
        UPDATE {s}.recurring SET paused = %(paused)s, next_run = %(next_run)s
        WHERE id = %(id)s RETURNING id""",
    "claim_recurring": """
        UPDATE {s}.recurring SET next_run = %(next_run)s
        WHERE id = %(id)s AND next_run = %(expected)s AND NOT paused RETURNING id""",
    "recurring_fired": """
        UPDATE {s}.recurring SET last_run = %(now)s, last_job_id = %(job_id)s WHERE id = %(id)s""",
    "recurring_error": "UPDATE {s}.recurring SET error = %(error)s WHERE id = %(id)s",
    "announce_server": """
        INSERT INTO {s}.server (id, hostname, pid, workers, queues, started_at, heartbeat_at)
        VALUES (%(id)s, %(hostname)s, %(pid)s, %(workers)s, %(queues)s, %(started_at)s,
            %(heartbeat_at)s)
        ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid,
            workers = excluded.workers, queues = excluded.queues,
            started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at""",
    "heartbeat": "UPDATE {s}.server SET heartbeat_at = %(now)s WHERE id = %(id)s RETURNING id",
    "remove_server": "DELETE FROM {s}.server WHERE id = %(id)s",
    "remove_dead_servers": """
        DELETE FROM {s}.server WHERE heartbeat_at < %(before)s RETURNING id""",
    "acquire_lock": """
        INSERT INTO {s}.lock AS l (name, owner, expires_at)
        VALUES (%(name)s, %(owner)s, %(expires_at)s)
        ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
        WHERE l.owner = excluded.owner OR l.expires_at <= %(now)s
        RETURNING name""",
    "release_lock": "DELETE FROM {s}.lock WHERE name = %(name)s AND owner = %(owner)s",
}


def _split_url(url: str, options: dict[str, Any]) -> tuple[str, str]:
    """(libpq URL without stoker's own query parameters, schema name)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = str(options.pop("schema", "") or "")
    kept: list[tuple[str, str]] = []
    for key, value in query:
        if key == "schema":
            schema = schema or value
        else:
            kept.append((key, value))
    schema = schema or DEFAULT_SCHEMA
    if not _SCHEMA_RE.fullmatch(schema):
        raise StorageURLError(
            f"invalid schema name {schema!r} in {redact_url(url)!r}: use letters, digits and "
            "underscores, starting with a letter or underscore (at most 63 characters)"
        )
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    conninfo = urlunsplit((scheme, parts.netloc, parts.path, urlencode(kept), parts.fragment))
    return conninfo, schema


class PostgresStorage(PostgresJobWrites, PostgresLimits, PostgresBatches, PostgresMonitorReads):
    """Storage on PostgreSQL 13+ (psycopg 3, psycopg_pool); see DESIGN.md §6.

    Job ids are bigserial integers exposed as strings. Every step of a job's life is one
    statement (or one transaction) that also writes the history row, keeps the per-state
    counts and NOTIFYs listeners of newly enqueued work."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        migrate: bool = True,
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        pool_timeout: float = 5.0,
        retry_attempts: int = 3,
        prepare_threshold: int | None = 5,
    ) -> None:
        self._schema = schema
        self._init_steps()
        self._db = PostgresDatabase(
            conninfo,
            min_size=pool_min_size,
            max_size=max(pool_min_size, pool_max_size),
            timeout=pool_timeout,
            attempts=retry_attempts,
            prepare_threshold=prepare_threshold,
        )
        channel = jobs_channel(schema)
        self._listener = Listener(conninfo, channel, settled_channel(schema))
        try:
            if migrate:
                self.migrate()
        except BaseException:
            self._db.close()
            raise
        queries = {
            **WRITE_QUERIES,
            **BATCH_QUERIES,
            **UPKEEP_QUERIES,
            **LIMIT_QUERIES,
            **BATCHES_QUERIES,
            **MONITOR_QUERIES,
            **_OTHER_QUERIES,
        }
        self._q = render(queries, schema, channel, COLUMN_FRAGMENTS)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStorage:
        """`postgresql://user:pass@host:5432/db?schema=NAME` (default schema "stoker").

        Options: migrate (default True: bring the schema up to date now), pool_min_size,
        pool_max_size, pool_timeout (seconds to wait for a connection), retry_attempts,
        prepare_threshold (None disables server-side prepared statements, for PgBouncer in
        transaction mode)."""
        conninfo, schema = _split_url(url, dict(options))
        options.pop("schema", None)
        return cls(conninfo, schema=schema, **options)

    @property
    def schema(self) -> str:
        return self._schema

    def migrate(self) -> int:
        """Apply pending schema migrations (safe to call from many processes at once)."""
        return self._db.run(lambda conn: migrate(conn, self._schema))

    # --- recurring jobs -----------------------------------------------------------------------
    def save_recurring(self, record: RecurringRecord) -> None:
        params = {
            "id": record.id,
            "cron": record.cron,
            "timezone": record.timezone,
            "function": record.function,
            "args": record.args,
            "kwargs": record.kwargs,
            "queue": record.queue,
            "params": Jsonb(dict(record.params)),
            "next_run": record.next_run,
            "created_at": record.created_at,
            "misfire": record.misfire,
            "paused": record.paused,
            "last_run": record.last_run,
            "last_job_id": record.last_job_id,
            "error": record.error,
        }
        self._execute("save_recurring", params)

    def remove_recurring(self, recurring_id: str) -> bool:
        return self._write_returning("remove_recurring", {"id": recurring_id})

    def set_recurring_paused(
        self, recurring_id: str, paused: bool, next_run: datetime | None
    ) -> bool:
        params = {"id": recurring_id, "paused": paused, "next_run": next_run}
        return self._fetchone("pause_recurring", params) is not None

    def due_recurring(self, now: datetime, limit: int) -> list[RecurringRecord]:
        rows = self._fetchall("due_recurring", {"now": now, "limit": limit})
        return [recurring_record(row) for row in rows]

    def fire_recurring(
        self,
        recurring_id: str,
        expected_next_run: datetime,
        next_run: datetime | None,
        jobs: Sequence[NewJob],
        now: datetime,
    ) -> list[str] | None:
        claim = {"id": recurring_id, "expected": expected_next_run, "next_run": next_run}

        def body(conn: Conn) -> list[str] | None:
            # The compare-and-set on next_run is what makes a cron occurrence fire once even
            # with every server running the recurring scheduler.
            if conn.execute(self._q["claim_recurring"], claim).fetchone() is None:
                return None
            ids = self._insert_jobs(conn, jobs) if jobs else []
            if ids:
                fired = {"id": recurring_id, "now": now, "job_id": ids[-1]}
                conn.execute(self._q["recurring_fired"], fired)
            return ids

        return self._db.run(body, transaction=True, idempotent=False)

    def record_recurring_error(self, recurring_id: str, error: str | None) -> None:
        self._execute("recurring_error", {"id": recurring_id, "error": error})

    # --- servers --------------------------------------------------------------------------------
    def announce_server(self, server: ServerRecord) -> None:
        params = {
            "id": server.id,
            "hostname": server.hostname,
            "pid": server.pid,
            "workers": server.workers,
            "queues": list(server.queues),
            "started_at": server.started_at,
            "heartbeat_at": server.heartbeat_at,
        }
        self._execute("announce_server", params)

    def heartbeat(self, server_id: str, now: datetime) -> bool:
        return self._fetchone("heartbeat", {"id": server_id, "now": now}) is not None

    def remove_server(self, server_id: str) -> None:
        self._execute("remove_server", {"id": server_id})

    def remove_dead_servers(self, heartbeat_before: datetime) -> list[str]:
        rows = self._fetchall("remove_dead_servers", {"before": heartbeat_before})
        return sorted(row[0] for row in rows)

    def claimed_jobs(self, server_id: str, worker_id: str) -> list[Claim]:
        rows = self._fetchall("claimed_jobs", {"server": server_id, "worker": worker_id})
        return [Claim(str(row[0]), row[1], int(row[2])) for row in rows]

    # --- locks --------------------------------------------------------------------------------
    def acquire_lock(self, name: str, owner: str, ttl: float, now: datetime) -> bool:
        params = {
            "name": name,
            "owner": owner,
            "now": now,
            "expires_at": now + timedelta(seconds=ttl),
        }
        # Idempotent: a retry by the same owner just extends its own lock.
        return self._fetchone("acquire_lock", params) is not None

    def release_lock(self, name: str, owner: str) -> None:
        self._execute("release_lock", {"name": name, "owner": owner})

    def _write_returning(self, name: str, params: dict[str, Any]) -> bool:
        row = self._db.run(
            lambda conn: conn.execute(self._q[name], params).fetchone(), idempotent=False
        )
        return row is not None

    def close(self) -> None:
        self._listener.close(closed_message=self._db.closed_message)
        self._db.close()
