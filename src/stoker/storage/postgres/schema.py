"""Versioned schema migrations of the PostgreSQL storage, safe when many servers start at once."""

from __future__ import annotations

import logging

from psycopg import sql

from stoker.core.errors import ForeignDatabaseError, SchemaTooNewError
from stoker.core.states import SETTLED_STATES
from stoker.storage.postgres.db import Conn
from stoker.storage.postgres.sql import settled_channel

logger = logging.getLogger("stoker.storage.postgres")

# First key of the advisory lock that serialises migrations; the second is a hash of the schema
# name, so apps in different schemas of one database migrate independently.
_MIGRATION_LOCK_CLASS = 0x570CE2

# Each migration runs once, in order, in the same transaction as the bump of schema_version.
# `{s}` is the schema identifier. Design notes:
# - `job` is the hot table (every state change rewrites its row), so it is kept narrow and its
#   indexes are few or partial: a non-HOT update adds an entry only to the partial indexes whose
#   predicate the new row matches. The immutable payload lives in `job_payload`.
# - `state_count` and `counter` rows are sharded by backend pid: concurrent transactions never
#   update the same row (no hot row, no deadlock between workers); readers sum the shards and
#   `delete_expired` folds the shards of ended backends into shard 0.
MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "jobs, history, logs, counters, servers, recurring jobs, locks",
        """
CREATE TABLE {s}.job (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    state text NOT NULL,
    state_id bigint NOT NULL,
    state_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    params jsonb NOT NULL,
    run_at timestamptz,
    expire_at timestamptz,
    server_id text,
    parent_id bigint,
    children integer NOT NULL DEFAULT 0,
    on_states text[],
    deleted_expire_at timestamptz,
    progress double precision
);
CREATE INDEX job_by_state ON {s}.job (state, state_at, state_id);
CREATE INDEX job_enqueued ON {s}.job (queue, state_at, state_id) WHERE state = 'Enqueued';
CREATE INDEX job_scheduled ON {s}.job (run_at, id) WHERE state = 'Scheduled';
CREATE INDEX job_processing ON {s}.job (server_id) WHERE state = 'Processing';
CREATE INDEX job_expire ON {s}.job (expire_at) WHERE expire_at IS NOT NULL;
CREATE INDEX job_parent ON {s}.job (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE {s}.job_payload (
    job_id bigint PRIMARY KEY,
    function text NOT NULL,
    args text NOT NULL,
    kwargs text NOT NULL
);

CREATE TABLE {s}.job_state (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL,
    name text NOT NULL,
    reason text,
    data json NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX job_state_job ON {s}.job_state (job_id, id);

CREATE TABLE {s}.job_log (
    id bigserial PRIMARY KEY,
    job_id bigint NOT NULL,
    created_at timestamptz NOT NULL,
    message text NOT NULL
);
CREATE INDEX job_log_job ON {s}.job_log (job_id, id);

CREATE TABLE {s}.state_count (
    state text NOT NULL,
    queue text NOT NULL,
    shard integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (state, queue, shard)
) WITH (fillfactor = 50);

CREATE TABLE {s}.counter (
    key text NOT NULL,
    shard integer NOT NULL,
    value bigint NOT NULL,
    expire_at timestamptz,
    PRIMARY KEY (key, shard)
) WITH (fillfactor = 50);
CREATE INDEX counter_expire ON {s}.counter (expire_at) WHERE expire_at IS NOT NULL;

CREATE TABLE {s}.server (
    id text PRIMARY KEY,
    hostname text NOT NULL,
    pid integer NOT NULL,
    workers integer NOT NULL,
    queues text[] NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

CREATE TABLE {s}.recurring (
    id text PRIMARY KEY,
    cron text NOT NULL,
    timezone text NOT NULL,
    function text NOT NULL,
    args text NOT NULL,
    kwargs text NOT NULL,
    queue text NOT NULL,
    params jsonb NOT NULL,
    next_run timestamptz,
    created_at timestamptz NOT NULL,
    misfire text NOT NULL,
    paused boolean NOT NULL,
    last_run timestamptz,
    last_job_id text,
    error text
);
CREATE INDEX recurring_due ON {s}.recurring (next_run) WHERE NOT paused;

CREATE TABLE {s}.lock (
    name text PRIMARY KEY,
    owner text NOT NULL,
    expires_at timestamptz NOT NULL
);
""",
    ),
    (
        2,
        "NOTIFY of jobs that settled, for those waiting on them",
        # A trigger, so that every way a job settles notifies (a worker's outcome, a delete, a
        # continuation deleted with its parent) without lengthening the hot statements. The
        # WHEN clause is checked in the row update itself: other updates queue no trigger call.
        """
CREATE FUNCTION {s}.notify_settled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify({settled_chan}, NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER job_settled AFTER UPDATE OF state ON {s}.job FOR EACH ROW
    WHEN (NEW.state IN ({settled}) AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION {s}.notify_settled();
""",
    ),
    (
        3,
        "idempotency and unique keys",
        """
CREATE TABLE {s}.idempotency (
    key text PRIMARY KEY,
    job_id bigint NOT NULL,
    expire_at timestamptz NOT NULL
);
CREATE INDEX idempotency_expire ON {s}.idempotency (expire_at);
CREATE TABLE {s}.unique_key (
    key text PRIMARY KEY,
    job_id bigint NOT NULL
);
CREATE INDEX unique_key_job ON {s}.unique_key (job_id);
""",
    ),
    (
        4,
        "concurrency slots, their waiters, rate-limited starts",
        # See stoker.storage.postgres.limits: a slot counts while its job is Enqueued or
        # Processing; waiters are served by seq; a start with a job_id is a reservation.
        """
CREATE TABLE {s}.concurrency_slot (
    job_id bigint PRIMARY KEY,
    key text NOT NULL,
    state_id bigint NOT NULL
);
CREATE INDEX concurrency_slot_key ON {s}.concurrency_slot (key);
CREATE TABLE {s}.concurrency_wait (
    seq bigserial PRIMARY KEY,
    key text NOT NULL,
    job_id bigint NOT NULL UNIQUE,
    state_id bigint NOT NULL,
    concurrency integer NOT NULL
);
CREATE INDEX concurrency_wait_key ON {s}.concurrency_wait (key, seq);
CREATE TABLE {s}.rate_start (
    id bigserial PRIMARY KEY,
    key text NOT NULL,
    at timestamptz NOT NULL,
    job_id bigint
);
CREATE INDEX rate_start_key ON {s}.rate_start (key, at);
CREATE INDEX rate_start_job ON {s}.rate_start (job_id) WHERE job_id IS NOT NULL;
""",
    ),
    (
        5,
        "batches: members counted per state, continuations",
        # See stoker.storage.postgres.batches. The column is nullable without a default (no
        # table rewrite) and its index partial, so a plain job's row and updates cost nothing
        # more; the trigger's WHEN clause is checked in the row update itself, so a plain job's
        # move queues no trigger call. A member's move adds -1/+1 in this backend's shard rows
        # of its batch (as state_count): concurrent workers never wait on one count row.
        """
ALTER TABLE {s}.job ADD COLUMN batch_id text;
CREATE INDEX job_batch ON {s}.job (batch_id, id) WHERE batch_id IS NOT NULL;
CREATE TABLE {s}.batch (
    id text PRIMARY KEY,
    description text NOT NULL,
    created_at timestamptz NOT NULL,
    total bigint NOT NULL,
    finished_at timestamptz,
    outcome text
);
CREATE INDEX batch_open ON {s}.batch (created_at) WHERE finished_at IS NULL;
CREATE INDEX batch_newest ON {s}.batch (created_at, id);
CREATE TABLE {s}.batch_count (
    batch_id text NOT NULL,
    state text NOT NULL,
    shard integer NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (batch_id, state, shard)
) WITH (fillfactor = 50);
CREATE TABLE {s}.batch_continuation (
    job_id bigint PRIMARY KEY,
    batch_id text NOT NULL
);
CREATE INDEX batch_continuation_batch ON {s}.batch_continuation (batch_id, job_id);
CREATE FUNCTION {s}.count_batch_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {s}.batch_count AS c (batch_id, state, shard, n)
    VALUES (NEW.batch_id, OLD.state, pg_backend_pid(), -1),
        (NEW.batch_id, NEW.state, pg_backend_pid(), 1)
    ON CONFLICT (batch_id, state, shard) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END $$;
CREATE TRIGGER job_batch_count AFTER UPDATE OF state ON {s}.job FOR EACH ROW
    WHEN (NEW.batch_id IS NOT NULL AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION {s}.count_batch_move();
""",
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]


def migrate(conn: Conn, schema: str) -> int:
    """Bring `schema` up to LATEST_VERSION; return how many migrations were applied.

    Runs in one transaction holding a transaction-level advisory lock, so servers that start at
    the same moment wait for each other and the second finds nothing left to do. A failing
    migration rolls back entirely (PostgreSQL DDL is transactional)."""
    s = sql.Identifier(schema)
    applied = 0
    with conn.transaction():
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_MIGRATION_LOCK_CLASS, schema)
        )
        current = _current_version(conn, schema, s)
        if current > LATEST_VERSION:
            # Raised before any statement of a migration: the transaction changes nothing.
            raise SchemaTooNewError(
                f"the PostgreSQL schema {schema!r} is at version {current}, newer than this "
                f"stoker knows ({LATEST_VERSION}); upgrade stoker"
            )
        for version, description, text in MIGRATIONS:
            if version <= current:
                continue
            conn.execute(sql.SQL(text).format(**_placeholders(text, schema)))
            conn.execute(
                sql.SQL(
                    "INSERT INTO {}.schema_version (version, description) VALUES (%s, %s)"
                ).format(s),
                (version, description),
            )
            logger.info("schema %s: applied migration %d (%s)", schema, version, description)
            applied += 1
    return applied


def _placeholders(text: str, schema: str) -> dict[str, sql.Composable]:
    """What a migration's text names: the schema, and the settled channel and state names."""
    values: dict[str, sql.Composable] = {
        "s": sql.Identifier(schema),
        "settled_chan": sql.Literal(settled_channel(schema)),
        "settled": sql.SQL(", ").join(sql.Literal(name) for name in sorted(SETTLED_STATES)),
    }
    return {key: value for key, value in values.items() if "{" + key + "}" in text}


def _current_version(conn: Conn, schema: str, s: sql.Identifier) -> int:
    """The version the schema is at; creates the schema and its version table if missing
    (only then: an up-to-date schema needs no CREATE privilege on the database)."""
    table = sql.SQL("{}.schema_version").format(s).as_string(conn)
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    if not (found and found[0]):
        _check_empty(conn, schema)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {}.schema_version (version integer PRIMARY KEY, "
                "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(s)
        )
        return 0
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_version").format(s)
    ).fetchone()
    return int(row[0]) if row else 0


def _check_empty(conn: Conn, schema: str) -> None:
    """A schema without stoker's version table must hold no tables or views: stoker keeps its
    tables in a schema of its own, and must not take over (nor break) another application's.
    Read from the catalog once, only on the first migration of a schema."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "ORDER BY c.relname LIMIT 5",
        (schema,),
    ).fetchall()
    if rows:
        names = ", ".join(str(row[0]) for row in rows)
        raise ForeignDatabaseError(
            f"the PostgreSQL schema {schema!r} already holds tables stoker did not create "
            f"({names}); give stoker a schema of its own, e.g. ?schema=stoker"
        )
