"""Versioned schema of the SQLite storage (PRAGMA user_version), migrated safely at open."""

from __future__ import annotations

import logging
import sqlite3

from stoker.core.errors import ForeignDatabaseError, SchemaTooNewError

logger = logging.getLogger("stoker.storage.sqlite")

# Each migration is a tuple of statements run in order inside ONE `BEGIN IMMEDIATE` transaction
# that also sets PRAGMA user_version (SQLite DDL is transactional), so a migration is applied
# entirely or not at all, and processes opening a new file at once apply it exactly once.
#
# Design notes:
# - Times are INTEGER microseconds since the Unix epoch, UTC.
# - `job` is one narrow-ish row per job. Its indexes are few and partial where possible, since
#   every state change rewrites index entries: `job_enqueued` holds only Enqueued jobs (the
#   fetch walks it, and pages of Enqueued jobs merge its per-queue ranges), `job_by_state`
#   every other job (pages of the dashboard, Processing jobs of dead servers), `job_run_at`
#   only Scheduled jobs (run_at is NULL otherwise), `job_expire` only expiring jobs. A query
#   must name `state <> 'Enqueued'` literally for SQLite to use job_by_state.
# - The CURRENT state (state, state_at, reason, data) lives in the job row; `job_state` holds
#   the earlier ones, written by a trigger whenever a change bumps `state_id`. So creating a
#   job is one INSERT, a claim or a change one UPDATE, and pages list jobs without a join.
#   The trigger runs BEFORE the update (it only writes job_state, never job), so a RETURNING
#   clause already sees the state just filed: the claim returns when the job was enqueued.
# - `job.state_id` is the number of the job's current state (1, 2, 3, ...) and `job_state.seq`
#   that of an earlier one: with job ids never reused (AUTOINCREMENT), (job id, state_id) is a
#   unique fencing token, and one job's history is contiguous in the WITHOUT ROWID B-tree.
# - `state_count` is kept by triggers in the same statement as each insert/update/delete of a
#   job, so Monitor counts never scan jobs and can never drift from them.
# - `counter` has no index on expire_at: it holds a few hundred keys, and every index would
#   cost a page write per finished job.
_V1: tuple[str, ...] = (
    """CREATE TABLE job (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        state TEXT NOT NULL,
        queue TEXT NOT NULL,
        state_id INTEGER NOT NULL,
        state_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        run_at INTEGER,
        expire_at INTEGER,
        server_id TEXT,
        parent_id INTEGER,
        on_states TEXT,
        deleted_expire_at INTEGER,
        progress REAL,
        reason TEXT,
        data TEXT NOT NULL,
        params TEXT NOT NULL,
        function TEXT NOT NULL,
        args TEXT NOT NULL,
        kwargs TEXT NOT NULL
    )""",
    "CREATE INDEX job_enqueued ON job (queue, state_at) WHERE state = 'Enqueued'",
    "CREATE INDEX job_by_state ON job (state, state_at) WHERE state <> 'Enqueued'",
    "CREATE INDEX job_run_at ON job (run_at) WHERE run_at IS NOT NULL",
    "CREATE INDEX job_expire ON job (expire_at) WHERE expire_at IS NOT NULL",
    "CREATE INDEX job_parent ON job (parent_id) WHERE parent_id IS NOT NULL",
    """CREATE TABLE job_state (
        job_id INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        name TEXT NOT NULL,
        reason TEXT,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (job_id, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE job_log (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        message TEXT NOT NULL
    )""",
    "CREATE INDEX job_log_job ON job_log (job_id)",
    """CREATE TABLE state_count (
        state TEXT NOT NULL,
        queue TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (state, queue)
    ) WITHOUT ROWID""",
    """CREATE TRIGGER job_counted_insert AFTER INSERT ON job BEGIN
        INSERT INTO state_count (state, queue, n) VALUES (new.state, new.queue, 1)
        ON CONFLICT (state, queue) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TRIGGER job_deleted AFTER DELETE ON job BEGIN
        UPDATE state_count SET n = n - 1 WHERE state = old.state AND queue = old.queue;
        DELETE FROM job_state WHERE job_id = old.id;
        DELETE FROM job_log WHERE job_id = old.id;
    END""",
    """CREATE TRIGGER job_history BEFORE UPDATE OF state_id ON job BEGIN
        INSERT INTO job_state (job_id, seq, name, reason, data, created_at)
        VALUES (old.id, old.state_id, old.state, old.reason, old.data, old.state_at);
    END""",
    """CREATE TRIGGER job_counted_update AFTER UPDATE OF state, queue ON job
    WHEN old.state IS NOT new.state OR old.queue IS NOT new.queue BEGIN
        UPDATE state_count SET n = n - 1 WHERE state = old.state AND queue = old.queue;
        INSERT INTO state_count (state, queue, n) VALUES (new.state, new.queue, 1)
        ON CONFLICT (state, queue) DO UPDATE SET n = n + 1;
    END""",
    """CREATE TABLE counter (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL,
        expire_at INTEGER
    ) WITHOUT ROWID""",
    """CREATE TABLE server (
        id TEXT PRIMARY KEY,
        hostname TEXT NOT NULL,
        pid INTEGER NOT NULL,
        workers INTEGER NOT NULL,
        queues TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE recurring (
        id TEXT PRIMARY KEY,
        cron TEXT NOT NULL,
        timezone TEXT NOT NULL,
        function TEXT NOT NULL,
        args TEXT NOT NULL,
        kwargs TEXT NOT NULL,
        queue TEXT NOT NULL,
        params TEXT NOT NULL,
        next_run INTEGER,
        created_at INTEGER NOT NULL,
        misfire TEXT NOT NULL,
        paused INTEGER NOT NULL,
        last_run INTEGER,
        last_job_id TEXT,
        error TEXT
    )""",
    "CREATE INDEX recurring_due ON recurring (next_run) WHERE NOT paused",
    """CREATE TABLE lock (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
)

# Idempotency keys: each names the job it made until it expires (NewJob.idempotency_key).
_V2 = (
    """CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,
        job_id INTEGER NOT NULL,
        expire_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX idempotency_expire ON idempotency (expire_at)",
    # Unique keys: each is held by its job while that job is unfinished (NewJob.unique_key).
    """CREATE TABLE unique_key (
        key TEXT PRIMARY KEY,
        job_id INTEGER NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX unique_key_job ON unique_key (job_id)",
    # A job removed (by expiry) frees the key it held.
    """CREATE TRIGGER job_unique_freed AFTER DELETE ON job BEGIN
        DELETE FROM unique_key WHERE job_id = old.id;
    END""",
)

# Concurrency and rate limits (stoker.core.limits): the slots jobs hold (a slot counts only
# while its job is Enqueued or Processing, so a finished or deleted job's slot frees itself),
# the jobs waiting for one (oldest first, by seq), and the starts each rate key made or
# reserved (job_id set while reserved and not yet used).
_V3 = (
    """CREATE TABLE concurrency_slot (
        job_id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        state_id INTEGER NOT NULL
    )""",
    "CREATE INDEX concurrency_slot_key ON concurrency_slot (key)",
    """CREATE TABLE concurrency_wait (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        job_id INTEGER NOT NULL UNIQUE,
        state_id INTEGER NOT NULL,
        concurrency INTEGER NOT NULL
    )""",
    "CREATE INDEX concurrency_wait_key ON concurrency_wait (key, seq)",
    """CREATE TABLE rate_start (
        key TEXT NOT NULL,
        at INTEGER NOT NULL,
        job_id INTEGER
    )""",
    "CREATE INDEX rate_start_key ON rate_start (key, at)",
    "CREATE INDEX rate_start_job ON rate_start (job_id) WHERE job_id IS NOT NULL",
    # A job removed (by expiry) leaves no slot, place in line or reservation behind.
    """CREATE TRIGGER job_limits_freed AFTER DELETE ON job BEGIN
        DELETE FROM concurrency_slot WHERE job_id = old.id;
        DELETE FROM concurrency_wait WHERE job_id = old.id;
        DELETE FROM rate_start WHERE job_id = old.id;
    END""",
)

# Batches (stoker.core.batches): a job's batch, the batches, their members counted per state
# by a trigger (so a batch of any size is finished from its counts, never by reading its
# jobs), and the jobs that continue each batch.
_V4 = (
    "ALTER TABLE job ADD COLUMN batch_id TEXT",
    "CREATE INDEX job_batch ON job (batch_id, id) WHERE batch_id IS NOT NULL",
    """CREATE TABLE batch (
        id TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        total INTEGER NOT NULL,
        finished_at INTEGER,
        outcome TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX batch_open ON batch (created_at) WHERE finished_at IS NULL",
    "CREATE INDEX batch_newest ON batch (created_at, id)",
    """CREATE TABLE batch_count (
        batch_id TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (batch_id, state)
    ) WITHOUT ROWID""",
    """CREATE TABLE batch_continuation (
        job_id INTEGER PRIMARY KEY,
        batch_id TEXT NOT NULL
    )""",
    "CREATE INDEX batch_continuation_batch ON batch_continuation (batch_id, job_id)",
    # Every move of a member, whoever makes it (a claim, an outcome, the watchdog, a person).
    """CREATE TRIGGER job_batch_count AFTER UPDATE OF state ON job
    WHEN new.batch_id IS NOT NULL AND old.state <> new.state BEGIN
        UPDATE batch_count SET n = n - 1 WHERE batch_id = new.batch_id AND state = old.state;
        INSERT INTO batch_count (batch_id, state, n) VALUES (new.batch_id, new.state, 1)
        ON CONFLICT (batch_id, state) DO UPDATE SET n = n + 1;
    END""",
)

# (version, description, statements), in order; never edit a released migration, add one.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (1, "jobs, history, logs, state counts, counters, servers, recurring jobs, locks", _V1),
    (2, "idempotency and unique keys", _V2),
    (3, "concurrency slots, their waiters, rate-limited starts", _V3),
    (4, "batches: members counted per state, continuations", _V4),
)
LATEST_VERSION = MIGRATIONS[-1][0]


def _check_empty(conn: sqlite3.Connection, path: str) -> None:
    """A database at version 0 must be empty: stoker keeps its tables and PRAGMA user_version
    in a file of its own, and must not take over (nor break) another application's."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name LIMIT 5"
    ).fetchall()
    if rows:
        names = ", ".join(str(row[0]) for row in rows)
        raise ForeignDatabaseError(
            f"the SQLite file {path} already holds tables stoker did not create ({names}); "
            "give stoker a database file of its own, e.g. sqlite:///stoker.db"
        )


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def _check_not_newer(version: int, path: str) -> None:
    if version > LATEST_VERSION:
        raise SchemaTooNewError(
            f"the SQLite database {path} is at schema version {version}, newer than this "
            f"stoker knows ({LATEST_VERSION}); upgrade stoker"
        )


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the database up to LATEST_VERSION; return how many migrations were applied.

    The version is read once without a lock (the common case: nothing to do), then again
    under `BEGIN IMMEDIATE`, which admits one writer at a time: of several processes opening
    a new file together, the first applies the migrations and the others find them done.
    The caller retries the whole call if the database stays busy."""
    version = schema_version(conn)
    _check_not_newer(version, path)
    if version == LATEST_VERSION:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(conn)
        _check_not_newer(version, path)
        if version == 0:
            _check_empty(conn, path)
        applied = 0
        for number, description, statements in MIGRATIONS:
            if number <= version:
                continue
            for statement in statements:
                conn.execute(statement)
            # PRAGMA arguments cannot be bound; `number` is an int from the table above.
            conn.execute(f"PRAGMA user_version = {int(number)}")
            logger.info("%s: applied schema migration %d (%s)", path, number, description)
            applied += 1
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return applied
