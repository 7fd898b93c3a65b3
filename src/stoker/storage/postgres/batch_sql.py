"""The SQL of batched steps in PostgreSQL: many workers' outcomes and next claims at once."""

from __future__ import annotations

# Every state change (one job, or a batch of workers' outcomes) is CHANGE_STATES and every
# claim (one worker, or a batch) is FETCH_MANY: one statement each, whatever the count. The
# rows travel as one array per column, in binary, turned back into rows by unnest().

# Every change is compare-and-set on its own (expected states, fencing state id): a change
# whose job moved meanwhile drops out of `cur` and writes nothing, the others apply. FOR UPDATE
# re-checks the condition against the latest committed row if another transaction changed it
# meanwhile. Rows are locked in id order, parents before their children, as every other
# multi-row statement does, so two batches cannot deadlock each other.
#
# A change with `release` also resolves the job's Awaiting children. The kids are found in the
# statement's snapshot, which misses a child committed after the snapshot was taken but before
# the parent row was locked (create_jobs holds the parent locked while it inserts the child).
# Creating a child bumps the parent's `children` column, so comparing the snapshot's value
# (`before`) with the locked row's (`cur`) detects exactly that case; the caller then runs
# RELEASE_CHILDREN, whose fresh snapshot sees the child.
#
# The last column lists the children the change deleted (their condition can no longer be
# met): the caller resolves their own Awaiting children with RELEASE_CHILDREN in turn, so no
# grandchild waits forever on a deleted job (as on SQLite and Redis; pinned by the contract).
CHANGE_STATES = """
WITH ch AS (
    SELECT * FROM unnest(
        %(id)b::bigint[], %(expected)b::text[], %(state_id)b::bigint[], %(name)b::text[],
        %(reason)b::text[], %(data)b::text[], %(at)b::timestamptz[], %(queue)b::text[],
        %(run_at)b::timestamptz[], %(expire_at)b::timestamptz[], %(server_id)b::text[],
        %(params)b::text[], %(final)b::bool[], %(release)b::bool[],
        %(enqueued_reason)b::text[], %(deleted_reason)b::text[],
        %(deleted_expire_at)b::timestamptz[]
    ) AS u (id, expected, state_id, name, reason, data, at, queue, run_at, expire_at,
        server_id, params, final, release, enq_why, del_why, del_x)
),
before AS (SELECT j.id, j.children FROM {s}.job AS j JOIN ch ON ch.id = j.id),
cur AS (
    SELECT j.id, j.state, j.queue, j.children FROM {s}.job AS j JOIN ch ON ch.id = j.id
    WHERE (ch.expected IS NULL OR j.state = ANY(string_to_array(ch.expected, ',')))
        AND (ch.state_id IS NULL OR j.state_id = ch.state_id)
    ORDER BY j.id
    FOR UPDATE OF j
),
history AS (
    INSERT INTO {s}.job_state (job_id, name, reason, data, created_at)
    SELECT ch.id, ch.name, ch.reason, ch.data::json, ch.at
    FROM ch JOIN cur ON cur.id = ch.id
    ORDER BY ch.id
    RETURNING id, job_id
),
updated AS (
    UPDATE {s}.job AS j
    SET state = ch.name, state_id = h.id, state_at = ch.at, queue = coalesce(ch.queue, j.queue),
        run_at = ch.run_at, expire_at = ch.expire_at, server_id = ch.server_id,
        params = j.params || ch.params::jsonb
    FROM history AS h JOIN ch ON ch.id = h.job_id
    WHERE j.id = h.job_id
    RETURNING j.id, j.queue, ch.name
),
bumped AS (
    INSERT INTO {s}.counter AS c (key, shard, value, expire_at)
    SELECT k, pg_backend_pid(), sum(b), max(e)
    FROM json_to_recordset(%(counters)s::json) AS x (j bigint, k text, b bigint, e timestamptz)
    WHERE x.j IN (SELECT id FROM updated)
    GROUP BY k
    ON CONFLICT (key, shard) DO UPDATE SET value = c.value + excluded.value,
        expire_at = excluded.expire_at
),
kids AS (
    SELECT k.id, k.queue, ch.at, ch.enq_why, ch.del_why, ch.del_x,
        CASE WHEN ch.name = ANY(k.on_states) THEN 'Enqueued' ELSE 'Deleted' END AS new_state
    FROM {s}.job AS k JOIN ch ON k.parent_id = ch.id
    WHERE ch.release AND k.state = 'Awaiting'
        AND NOT EXISTS (SELECT FROM {s}.concurrency_wait WHERE job_id = k.id)
        AND (ch.name = ANY(k.on_states) OR ch.final)
        AND EXISTS (SELECT FROM cur WHERE cur.id = ch.id)
    ORDER BY k.id
    FOR UPDATE OF k
),
kid_history AS (
    INSERT INTO {s}.job_state (job_id, name, reason, data, created_at)
    SELECT id, new_state,
        CASE WHEN new_state = 'Enqueued' THEN enq_why ELSE del_why END,
        CASE WHEN new_state = 'Enqueued' THEN json_build_object('queue', queue)
             ELSE json_build_object() END,
        at
    FROM kids
    ORDER BY id
    RETURNING id, job_id, name
),
kid_updated AS (
    UPDATE {s}.job AS j
    SET state = h.name, state_id = h.id, state_at = kids.at,
        expire_at = CASE WHEN h.name = 'Deleted'
            THEN coalesce(kids.del_x, j.deleted_expire_at) END
    FROM kid_history AS h JOIN kids ON kids.id = h.job_id
    WHERE j.id = h.job_id
    RETURNING j.id, j.queue, j.state, j.parent_id AS parent
),
moved AS (
    SELECT cur.state AS old_state, cur.queue AS old_queue, u.name AS new_state,
        u.queue AS new_queue
    FROM updated AS u JOIN cur ON cur.id = u.id
    UNION ALL
    SELECT 'Awaiting', queue, state, queue FROM kid_updated
),
{counts}
SELECT u.id, (SELECT count(*) FROM notified),
    ch.release AND cur.children IS DISTINCT FROM before.children,
    (SELECT array_agg(k.id) FROM kid_updated AS k WHERE k.state = 'Deleted' AND k.parent = u.id)
FROM updated AS u
JOIN cur ON cur.id = u.id
JOIN before ON before.id = u.id
JOIN ch ON ch.id = u.id
"""

# Up to n jobs for n workers (n = 1: a worker's plain fetch), in the order one-by-one fetches
# would hand them out: queues in the server's order (the nested loop runs the LATERAL subquery
# once per queue, in array order, and stops as soon as n rows came out, so no more than n rows
# are ever locked), oldest first within a queue. Claim k goes to worker k. SKIP LOCKED lets
# concurrent servers pass each other instead of queueing on the same rows. Queue names cannot
# contain commas (validate_queue_name), so they travel as one text parameter.
FETCH_MANY = """
WITH picked AS (
    SELECT p.id, p.queue, p.state_at, row_number() OVER () AS rn
    FROM (
        SELECT j.id, j.queue, j.state_at
        FROM unnest(string_to_array(%(queues)s::text, ',')) AS q (name)
        CROSS JOIN LATERAL (
            SELECT id, queue, state_at FROM {s}.job
            WHERE state = 'Enqueued' AND queue = q.name
            ORDER BY state_at, state_id
            LIMIT %(n)s
            FOR UPDATE SKIP LOCKED
        ) AS j
        LIMIT %(n)s
    ) AS p
),
w AS (
    SELECT * FROM unnest(%(reasons)b::text[], %(datas)b::text[], %(nows)b::timestamptz[])
        WITH ORDINALITY AS w (reason, data, now, rn)
),
history AS (
    INSERT INTO {s}.job_state (job_id, name, reason, data, created_at)
    SELECT picked.id, 'Processing', w.reason, w.data::json, w.now
    FROM picked JOIN w ON w.rn = picked.rn
    ORDER BY picked.rn
    RETURNING id, job_id
),
updated AS (
    UPDATE {s}.job AS j
    SET state = 'Processing', state_id = history.id, state_at = w.now,
        server_id = %(server_id)s, run_at = NULL, expire_at = NULL
    FROM history JOIN picked ON picked.id = history.job_id JOIN w ON w.rn = picked.rn
    WHERE j.id = history.job_id
    RETURNING j.id, j.queue, j.params, j.created_at, j.state_id
),
moved AS (
    SELECT 'Enqueued'::text AS old_state, queue AS old_queue, 'Processing'::text AS new_state,
        queue AS new_queue
    FROM updated
),
{counts}
SELECT u.id, p.function, p.args, p.kwargs, u.queue, u.params, u.created_at, picked.state_at,
    u.state_id, picked.rn
FROM updated AS u
JOIN picked ON picked.id = u.id
JOIN {s}.job_payload AS p ON p.job_id = u.id
"""

BATCH_QUERIES: dict[str, str] = {"change_states": CHANGE_STATES, "fetch_many": FETCH_MANY}
