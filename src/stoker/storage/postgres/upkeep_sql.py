"""The SQL of the PostgreSQL storage's upkeep: due scheduled jobs, orphans, expiry, count shards."""

from __future__ import annotations

# Same placeholders as stoker.storage.postgres.sql ({s}, {chan}, {counts}); rendered there.

ENQUEUE_DUE = """
WITH due AS (
    SELECT id, queue FROM {s}.job
    WHERE state = 'Scheduled' AND run_at <= %(now)s
    ORDER BY run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
history AS (
    INSERT INTO {s}.job_state (job_id, name, reason, data, created_at)
    SELECT id, 'Enqueued', %(reason)s, json_build_object('queue', queue), %(now)s FROM due
    RETURNING id, job_id
),
updated AS (
    UPDATE {s}.job AS j
    SET state = 'Enqueued', state_id = history.id, state_at = %(now)s, run_at = NULL
    FROM history WHERE j.id = history.job_id
    RETURNING j.id, j.queue
),
moved AS (
    SELECT 'Scheduled'::text AS old_state, queue AS old_queue, 'Enqueued'::text AS new_state,
        queue AS new_queue
    FROM updated
),
{counts}
SELECT count(*), (SELECT count(*) FROM notified) FROM updated
"""

# The job stays claimed by its dead server until this statement commits; SKIP LOCKED lets
# several watchdogs run at once without requeueing a job twice. The reason is the text around
# the server's id, and the crash count's key a parameter (stoker.core, see params.orphan_params).
REQUEUE_ORPHANS = """
WITH orphan AS (
    SELECT j.id, j.queue, j.server_id FROM {s}.job AS j
    WHERE j.state = 'Processing'
        AND NOT EXISTS (SELECT FROM {s}.server AS v WHERE v.id = j.server_id)
    ORDER BY j.state_at, j.id
    LIMIT %(limit)s
    FOR UPDATE OF j SKIP LOCKED
),
history AS (
    INSERT INTO {s}.job_state (job_id, name, reason, data, created_at)
    SELECT id, 'Enqueued',
        %(reason_head)s || coalesce(server_id, %(unknown_server)s) || %(reason_tail)s,
        json_build_object('queue', queue), %(now)s
    FROM orphan
    RETURNING id, job_id
),
updated AS (
    UPDATE {s}.job AS j
    SET state = 'Enqueued', state_id = history.id, state_at = %(now)s, server_id = NULL,
        params = j.params || jsonb_build_object(
            %(crashes)s::text, coalesce((j.params ->> %(crashes)s::text)::integer, 0) + 1)
    FROM history WHERE j.id = history.job_id
    RETURNING j.id, j.queue
),
moved AS (
    SELECT 'Processing'::text AS old_state, queue AS old_queue, 'Enqueued'::text AS new_state,
        queue AS new_queue
    FROM updated
),
{counts}
SELECT id, (SELECT count(*) FROM notified) FROM updated ORDER BY id
"""

DELETE_EXPIRED = """
WITH gone AS (
    DELETE FROM {s}.job WHERE id IN (
        SELECT id FROM {s}.job WHERE expire_at <= %(now)s
        ORDER BY expire_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING id, state, queue
),
payload AS (DELETE FROM {s}.job_payload WHERE job_id IN (SELECT id FROM gone)),
history AS (DELETE FROM {s}.job_state WHERE job_id IN (SELECT id FROM gone)),
logs AS (DELETE FROM {s}.job_log WHERE job_id IN (SELECT id FROM gone)),
freed AS (DELETE FROM {s}.unique_key WHERE job_id IN (SELECT id FROM gone)),
slots AS (DELETE FROM {s}.concurrency_slot WHERE job_id IN (SELECT id FROM gone)),
line AS (DELETE FROM {s}.concurrency_wait WHERE job_id IN (SELECT id FROM gone)),
starts AS (DELETE FROM {s}.rate_start WHERE job_id IN (SELECT id FROM gone)),
moved AS (
    SELECT state AS old_state, queue AS old_queue, NULL::text AS new_state,
        NULL::text AS new_queue
    FROM gone
),
{counts}
SELECT count(*) FROM gone
"""

# A counter is all the shard rows of its key: once one of them expired, the whole counter has
# (a shard written without an expiry, by add_counters, does not keep it alive).
DELETE_EXPIRED_COUNTERS = """
DELETE FROM {s}.counter
WHERE key IN (SELECT key FROM {s}.counter WHERE expire_at <= %(now)s)
"""

# Fold the count shards of backends that have ended into shard 0, so the tables stay as small
# as the number of live connections. Callers hold an advisory lock: one folder at a time.
FOLD_SHARDS = """
WITH dead AS (
    DELETE FROM {s}.state_count
    WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
    RETURNING state, queue, n
)
INSERT INTO {s}.state_count AS c (state, queue, shard, n)
SELECT state, queue, 0, sum(n) FROM dead GROUP BY state, queue
ON CONFLICT (state, queue, shard) DO UPDATE SET n = c.n + excluded.n
"""

FOLD_COUNTER_SHARDS = """
WITH dead AS (
    DELETE FROM {s}.counter
    WHERE shard <> 0 AND shard NOT IN (SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)
    RETURNING key, value, expire_at
)
INSERT INTO {s}.counter AS c (key, shard, value, expire_at)
SELECT key, 0, sum(value), max(expire_at) FROM dead GROUP BY key
ON CONFLICT (key, shard) DO UPDATE SET value = c.value + excluded.value,
    expire_at = greatest(c.expire_at, excluded.expire_at)
"""


UPKEEP_QUERIES: dict[str, str] = {
    "enqueue_due": ENQUEUE_DUE,
    "requeue_orphans": REQUEUE_ORPHANS,
    "delete_expired": DELETE_EXPIRED,
    "delete_expired_counters": DELETE_EXPIRED_COUNTERS,
    "fold_shards": FOLD_SHARDS,
    "fold_counter_shards": FOLD_COUNTER_SHARDS,
}
