"""The SQL of a job's life in PostgreSQL (create, fetch, change state) and its rendering."""

from __future__ import annotations

import re

from psycopg import sql

# Placeholders: {s} the schema, {job_seq}/{state_seq} the id sequences, {chan} the NOTIFY
# channel of new work. Every statement is parameterised; they are rendered once per storage.
#
# Shared fragments. `moved` rows carry (old_state, old_queue, new_state, new_queue); the count
# fragment turns them into per-(state, queue) deltas in this backend's own shard row, so no
# two workers ever wait on the same counter row.
_COUNT_MOVED = """
counts AS (
    INSERT INTO {s}.state_count AS c (state, queue, shard, n)
    SELECT state, queue, pg_backend_pid(), sum(d) FROM (
        SELECT old_state, old_queue, -1 FROM moved WHERE old_state IS NOT NULL
        UNION ALL
        SELECT new_state, new_queue, 1 FROM moved WHERE new_state IS NOT NULL
    ) AS x (state, queue, d)
    GROUP BY state, queue HAVING sum(d) <> 0
    ON CONFLICT (state, queue, shard) DO UPDATE SET n = c.n + excluded.n
),
notified AS (
    SELECT pg_notify({chan}, new_queue || ' ' || count(*)) AS sent
    FROM moved WHERE new_state = 'Enqueued' GROUP BY new_queue
)"""

# What follows the `src` rows of new jobs: the three inserts, the counts and the NOTIFY.
_CREATE_TAIL = """
jobs AS (
    INSERT INTO {s}.job (id, queue, state, state_id, state_at, created_at, params, run_at,
        expire_at, parent_id, on_states, deleted_expire_at, batch_id)
    SELECT id, queue, state, sid, state_at, created_at, params, run_at, expire_at, parent_id,
        string_to_array(on_states, ','), deleted_expire_at, batch_id
    FROM src
),
payload AS (
    INSERT INTO {s}.job_payload (job_id, function, args, kwargs)
    SELECT id, function, args, kwargs FROM src
),
history AS (
    INSERT INTO {s}.job_state (id, job_id, name, reason, data, created_at)
    SELECT sid, id, state, reason, data, state_at FROM src
),
moved AS (
    SELECT NULL::text AS old_state, NULL::text AS old_queue, state AS new_state,
        queue AS new_queue
    FROM src
),
{counts}
SELECT id, (SELECT count(*) FROM notified) FROM src ORDER BY ord
"""

# Many jobs: one multi-row INSERT fed by unnest() of one array per column (one round trip).
# The arrays travel in binary (%b), and params/data as JSON text cast on the server: psycopg's
# text-format array dumping (quoting every element) and its per-element Json wrappers cost
# more client time than the whole INSERT costs the server.
CREATE_JOBS = """
WITH src AS (
    SELECT nextval({job_seq}) AS id, nextval({state_seq}) AS sid, u.function, u.args,
        u.kwargs, u.queue, u.params::jsonb AS params, u.created_at, u.state, u.reason,
        u.data::json AS data, u.state_at, u.run_at, u.expire_at, u.parent_id, u.on_states,
        u.deleted_expire_at, u.batch_id, u.ord
    FROM unnest(
        %(function)b::text[], %(args)b::text[], %(kwargs)b::text[], %(queue)b::text[],
        %(params)b::text[], %(created_at)b::timestamptz[], %(state)b::text[],
        %(reason)b::text[], %(data)b::text[], %(state_at)b::timestamptz[],
        %(run_at)b::timestamptz[], %(expire_at)b::timestamptz[], %(parent_id)b::bigint[],
        %(on_states)b::text[], %(deleted_expire_at)b::timestamptz[], %(batch_id)b::text[]
    ) WITH ORDINALITY AS u (function, args, kwargs, queue, params, created_at, state, reason,
        data, state_at, run_at, expire_at, parent_id, on_states, deleted_expire_at, batch_id,
        ord)
),
{create_tail}"""

# Many jobs that differ only in their arguments (the usual `enqueue_many`): every other column
# is one scalar parameter, so only two arrays travel and are dumped by the client.
CREATE_JOBS_UNIFORM = """
WITH src AS (
    SELECT nextval({job_seq}) AS id, nextval({state_seq}) AS sid,
        %(function)s::text AS function, u.args, u.kwargs, %(queue)s::text AS queue,
        %(params)s::jsonb AS params, %(created_at)s::timestamptz AS created_at,
        %(state)s::text AS state, %(reason)s::text AS reason, %(data)s::json AS data,
        %(state_at)s::timestamptz AS state_at, %(run_at)s::timestamptz AS run_at,
        %(expire_at)s::timestamptz AS expire_at, %(parent_id)s::bigint AS parent_id,
        %(on_states)s::text AS on_states,
        %(deleted_expire_at)s::timestamptz AS deleted_expire_at,
        %(batch_id)s::text AS batch_id, u.ord
    FROM unnest(%(args)b::text[], %(kwargs)b::text[]) WITH ORDINALITY AS u (args, kwargs, ord)
),
{create_tail}"""

# One job (the common enqueue): scalar parameters, which psycopg adapts much faster than arrays.
CREATE_JOB = """
WITH src AS (
    SELECT nextval({job_seq}) AS id, nextval({state_seq}) AS sid, 1 AS ord,
        %(function)s::text AS function, %(args)s::text AS args, %(kwargs)s::text AS kwargs,
        %(queue)s::text AS queue, %(params)s::jsonb AS params,
        %(created_at)s::timestamptz AS created_at, %(state)s::text AS state,
        %(reason)s::text AS reason, %(data)s::json AS data,
        %(state_at)s::timestamptz AS state_at, %(run_at)s::timestamptz AS run_at,
        %(expire_at)s::timestamptz AS expire_at, %(parent_id)s::bigint AS parent_id,
        %(on_states)s::text AS on_states, %(deleted_expire_at)s::timestamptz AS deleted_expire_at,
        %(batch_id)s::text AS batch_id
),
{create_tail}"""

# Resolution of the Awaiting children of a parent that is already in its new state (committed):
# the rare follow-up of CHANGE_STATES (postgres_batch_sql) when a child appeared during its
# lock wait.
RELEASE_CHILDREN = """
WITH kids AS (
    SELECT id, queue, deleted_expire_at,
        CASE WHEN %(name)s = ANY(on_states) THEN 'Enqueued'
             WHEN %(final)s::boolean THEN 'Deleted' END AS new_state
    FROM {s}.job
    WHERE parent_id = %(parent_id)s AND state = 'Awaiting'
        AND NOT EXISTS (SELECT FROM {s}.concurrency_wait AS w WHERE w.job_id = job.id)
        AND EXISTS (
            SELECT FROM {s}.job AS p WHERE p.id = %(parent_id)s AND p.state = %(name)s)
    ORDER BY id
    FOR UPDATE
),
history AS (
    INSERT INTO {s}.job_state (job_id, name, reason, data, created_at)
    SELECT id, new_state,
        CASE WHEN new_state = 'Enqueued' THEN %(enqueued_reason)s ELSE %(deleted_reason)s END,
        CASE WHEN new_state = 'Enqueued' THEN json_build_object('queue', queue)
             ELSE json_build_object() END,
        %(at)s
    FROM kids WHERE new_state IS NOT NULL
    ORDER BY id
    RETURNING id, job_id, name
),
updated AS (
    UPDATE {s}.job AS j
    SET state = history.name, state_id = history.id, state_at = %(at)s,
        expire_at = CASE WHEN history.name = 'Deleted'
            THEN coalesce(%(deleted_expire_at)s, j.deleted_expire_at) END
    FROM history WHERE j.id = history.job_id
    RETURNING j.id, j.queue, j.state
),
moved AS (
    SELECT 'Awaiting'::text AS old_state, queue AS old_queue, state AS new_state,
        queue AS new_queue
    FROM updated
),
{counts}
SELECT id, (SELECT count(*) FROM notified), state FROM updated
"""

WRITE_QUERIES: dict[str, str] = {
    "create_jobs": CREATE_JOBS,
    "create_job": CREATE_JOB,
    "create_jobs_uniform": CREATE_JOBS_UNIFORM,
    "release_children": RELEASE_CHILDREN,
}


def jobs_channel(schema: str) -> str:
    """The NOTIFY channel of newly enqueued work ('<queue> <count>')."""
    return f"stoker_jobs.{schema}"[:63]


def settled_channel(schema: str) -> str:
    """The NOTIFY channel of jobs that settled ('<job id>'), for those waiting on them; the
    job table's `job_settled` trigger (migration 2) sends on it."""
    return f"stoker_settled.{schema}"[:63]


def render(
    templates: dict[str, str],
    schema: str,
    channel: str,
    fragments: dict[str, str] | None = None,
) -> dict[str, str]:
    """Fill the placeholders of `templates` for one schema; the result is plain SQL text.
    `fragments` are constant SQL pieces (column lists) that templates name as placeholders."""
    quoted = '"' + schema.replace('"', '""') + '"'
    base: dict[str, sql.Composable] = {
        "s": sql.Identifier(schema),
        "chan": sql.Literal(channel),
    }
    counts = sql.SQL(_COUNT_MOVED).format(**base)
    values: dict[str, sql.Composable] = {
        **base,
        "counts": counts,
        "create_tail": sql.SQL(_CREATE_TAIL).format(s=base["s"], counts=counts),
        "job_seq": sql.Literal(f"{quoted}.job_id_seq"),
        "state_seq": sql.Literal(f"{quoted}.job_state_id_seq"),
        **{name: sql.SQL(text).format(**base) for name, text in (fragments or {}).items()},
    }
    rendered: dict[str, str] = {}
    for name, text in templates.items():
        # Only pass the placeholders a template uses: str.format-style rendering rejects extras
        # in psycopg.sql, and templates differ in what they need.
        used = {key: value for key, value in values.items() if "{" + key + "}" in text}
        rendered[name] = squeeze(sql.SQL(text).format(**used).as_string())
    return rendered


def squeeze(text: str) -> str:
    """The statement with every run of whitespace outside string literals made one space, and
    none left next to parentheses, commas, `=` and `||` (never significant in SQL next to
    them; our identifiers are validated to contain none of them).

    psycopg caches its parsing of a query's %(name)s placeholders only for queries shorter than
    4,096 characters; longer ones are parsed again on every execute (measured: 4% of a worker
    process's CPU for the batched change). The indentation of our templates is most of that.
    Splitting on quotes alternates outside/inside a literal, also across doubled quotes."""
    parts = text.split("'")
    for index in range(0, len(parts), 2):
        spaced = re.sub(r"\s+", " ", parts[index])
        parts[index] = re.sub(r"\s*([(),=]|\|\|)\s*", r"\1", spaced)
    return "'".join(parts).strip()
