"""The floor: only the bare statements one job needs, per storage, with its plain driver.

Per job: create (job row + its first history row), claim (oldest Enqueued row to Processing +
history row) and finish (Processing to Succeeded + history row), each one transaction, like
stoker's budget. Nothing else: no arguments check, no filters, no counters, no wake-up
notification, no retry bookkeeping. One backend object per thread (one connection each).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any, Protocol

PAYLOAD = ("benchmarks.jobs:noop", "[]", "{}", "default", '{"retries":10}')


class Backend(Protocol):
    def insert_one(self) -> None: ...
    def insert_many(self, count: int) -> None: ...
    def claim(self) -> str | None: ...
    def finish(self, job_id: str) -> None: ...
    def close(self) -> None: ...


# --- SQLite -------------------------------------------------------------------------------------
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS job (id INTEGER PRIMARY KEY, function TEXT NOT NULL,
    args TEXT NOT NULL, kwargs TEXT NOT NULL, queue TEXT NOT NULL, params TEXT NOT NULL,
    state TEXT NOT NULL, state_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS job_enqueued ON job (queue, state_at, id) WHERE state = 'Enqueued';
CREATE TABLE IF NOT EXISTS job_state (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL,
    name TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL);
"""
SQLITE_INSERT = (
    "INSERT INTO job (function, args, kwargs, queue, params, state, state_at) "
    "VALUES (?, ?, ?, ?, ?, 'Enqueued', ?)"
)
SQLITE_HISTORY = "INSERT INTO job_state (job_id, name, data, created_at) VALUES (?, ?, ?, ?)"
SQLITE_CLAIM = """
UPDATE job SET state = 'Processing', state_at = ?
WHERE id = (SELECT id FROM job WHERE state = 'Enqueued' AND queue = 'default'
            ORDER BY state_at, id LIMIT 1)
RETURNING id, function, args, kwargs"""
SQLITE_FINISH = (
    "UPDATE job SET state = 'Succeeded', state_at = ? WHERE id = ? AND state = 'Processing'"
)


class SQLiteBackend:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute("PRAGMA busy_timeout = 10000")
        self.conn.executescript(SQLITE_SCHEMA)

    def _create(self, now: float) -> None:
        cursor = self.conn.execute(SQLITE_INSERT, (*PAYLOAD, now))
        self.conn.execute(SQLITE_HISTORY, (cursor.lastrowid, "Enqueued", "{}", now))

    def insert_one(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self._create(time.time())
        self.conn.execute("COMMIT")

    def insert_many(self, count: int) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        now = time.time()
        for _ in range(count):
            self._create(now)
        self.conn.execute("COMMIT")

    def claim(self) -> str | None:
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        row = self.conn.execute(SQLITE_CLAIM, (now,)).fetchone()
        if row is not None:
            self.conn.execute(SQLITE_HISTORY, (row[0], "Processing", '{"worker":"w"}', now))
        self.conn.execute("COMMIT")
        return None if row is None else str(row[0])

    def finish(self, job_id: str) -> None:
        now = time.time()
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(SQLITE_FINISH, (now, int(job_id)))
        self.conn.execute(SQLITE_HISTORY, (int(job_id), "Succeeded", '{"result":null}', now))
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


# --- PostgreSQL ---------------------------------------------------------------------------------
PG_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.job (id bigserial PRIMARY KEY, function text NOT NULL,
    args text NOT NULL, kwargs text NOT NULL, queue text NOT NULL, params jsonb NOT NULL,
    state text NOT NULL, state_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS job_enqueued ON {s}.job (queue, state_at, id)
    WHERE state = 'Enqueued';
CREATE TABLE IF NOT EXISTS {s}.job_state (id bigserial PRIMARY KEY, job_id bigint NOT NULL,
    name text NOT NULL, data json NOT NULL, created_at timestamptz NOT NULL);
"""
PG_INSERT = """
WITH j AS (
    INSERT INTO {s}.job (function, args, kwargs, queue, params, state, state_at)
    SELECT f, a, k, q, p::jsonb, 'Enqueued', now()
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[]) AS u (f, a, k, q, p)
    RETURNING id)
INSERT INTO {s}.job_state (job_id, name, data, created_at)
SELECT id, 'Enqueued', '{{}}', now() FROM j"""
PG_INSERT_ONE = """
WITH j AS (
    INSERT INTO {s}.job (function, args, kwargs, queue, params, state, state_at)
    VALUES (%s, %s, %s, %s, %s, 'Enqueued', now()) RETURNING id)
INSERT INTO {s}.job_state (job_id, name, data, created_at)
SELECT id, 'Enqueued', '{{}}', now() FROM j"""
PG_CLAIM = """
WITH picked AS (
    SELECT id FROM {s}.job WHERE state = 'Enqueued' AND queue = 'default'
    ORDER BY state_at, id LIMIT 1 FOR UPDATE SKIP LOCKED),
u AS (
    UPDATE {s}.job AS j SET state = 'Processing', state_at = now() FROM picked
    WHERE j.id = picked.id RETURNING j.id, j.function, j.args, j.kwargs),
h AS (
    INSERT INTO {s}.job_state (job_id, name, data, created_at)
    SELECT id, 'Processing', '{{"worker":"w"}}', now() FROM u)
SELECT id, function, args, kwargs FROM u"""
PG_FINISH = """
WITH u AS (
    UPDATE {s}.job SET state = 'Succeeded', state_at = now()
    WHERE id = %s AND state = 'Processing' RETURNING id)
INSERT INTO {s}.job_state (job_id, name, data, created_at)
SELECT id, 'Succeeded', '{{"result":null}}', now() FROM u"""


class PostgresBackend:
    def __init__(self, conninfo: str, schema: str) -> None:
        import psycopg
        from psycopg import sql

        self.conn: Any = psycopg.connect(conninfo, autocommit=True, prepare_threshold=0)
        ident = sql.Identifier(schema).as_string(self.conn)
        self.q = {
            name: text.format(s=ident)
            for name, text in (
                ("insert", PG_INSERT),
                ("insert_one", PG_INSERT_ONE),
                ("claim", PG_CLAIM),
                ("finish", PG_FINISH),
            )
        }
        for statement in PG_SCHEMA.format(s=ident).split(";"):
            if statement.strip():
                self.conn.execute(statement)

    def insert_one(self) -> None:
        self.conn.execute(self.q["insert_one"], PAYLOAD)

    def insert_many(self, count: int) -> None:
        self.conn.execute(self.q["insert"], [[value] * count for value in PAYLOAD])

    def claim(self) -> str | None:
        row = self.conn.execute(self.q["claim"]).fetchone()
        return None if row is None else str(row[0])

    def finish(self, job_id: str) -> None:
        self.conn.execute(self.q["finish"], (int(job_id),))

    def close(self) -> None:
        self.conn.close()


# --- Redis --------------------------------------------------------------------------------------
# A claim must be atomic (pop + state + history), so it is the three commands in one script;
# create and finish are MULTI/EXEC pipelines. One round trip per step, as in stoker.
REDIS_CLAIM = """
local id = redis.call('RPOPLPUSH', KEYS[1], KEYS[2])
if not id then return false end
local k = ARGV[1] .. ':job:' .. id
redis.call('HSET', k, 's', 'Processing', 't', ARGV[2])
redis.call('RPUSH', k .. ':history', ARGV[3])
return {id, unpack(redis.call('HMGET', k, 'f', 'a', 'k'))}"""


class RedisBackend:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.r: Any = redis.Redis.from_url(url, decode_responses=True)
        self.p = prefix
        self.queue = f"{prefix}:queue:default"
        self.processing = f"{prefix}:processing"
        self.claim_script = self.r.register_script(REDIS_CLAIM)

    def _create(self, pipe: Any, now: str) -> None:
        job_id = uuid.uuid4().hex
        key = f"{self.p}:job:{job_id}"
        function, args, kwargs, queue, _params = PAYLOAD
        pipe.hset(
            key,
            mapping={"f": function, "a": args, "k": kwargs, "q": queue, "s": "Enqueued", "t": now},
        )
        pipe.hset(f"{key}:params", "retries", "10")
        pipe.rpush(f"{key}:history", '{"n":"Enqueued","t":' + now + "}")
        pipe.lpush(self.queue, job_id)

    def insert_one(self) -> None:
        pipe = self.r.pipeline(transaction=True)
        self._create(pipe, repr(time.time()))
        pipe.execute()

    def insert_many(self, count: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        now = repr(time.time())
        for _ in range(count):
            self._create(pipe, now)
        pipe.execute()

    def claim(self) -> str | None:
        now = repr(time.time())
        entry = '{"n":"Processing","t":' + now + ',"d":{"worker":"w"}}'
        reply = self.claim_script(keys=[self.queue, self.processing], args=[self.p, now, entry])
        return None if not reply else str(reply[0])

    def finish(self, job_id: str) -> None:
        now = repr(time.time())
        key = f"{self.p}:job:{job_id}"
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, mapping={"s": "Succeeded", "t": now})
        pipe.rpush(f"{key}:history", '{"n":"Succeeded","t":' + now + ',"d":{"result":null}}')
        pipe.lrem(self.processing, 1, job_id)
        pipe.execute()

    def close(self) -> None:
        self.r.close()


def open_backend(kind: str, base: str, name: str) -> Backend:
    """A backend on its own connection, creating the tables if needed."""
    if kind == "sqlite":
        return SQLiteBackend(base)
    if kind == "postgres":
        return PostgresBackend(base, name)
    if kind == "redis":
        return RedisBackend(base, name)
    raise ValueError(f"unknown storage {kind!r}")
