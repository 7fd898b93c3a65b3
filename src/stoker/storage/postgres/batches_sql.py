"""The SQL of batches in PostgreSQL: create, continue, finish from the counts, read back."""

from __future__ import annotations

# Same placeholders as stoker.storage.postgres.sql ({s}, {job_columns}); rendered there. A
# member's moves are counted by the job_batch_count trigger (schema migration 5), in this
# backend's shard rows of batch_count: readers sum the shards.

# The batch's columns, its counts summed over the shards, and its continuations' ids.
_BATCH_ROW = """
    SELECT b.id, b.description, b.created_at, b.total, b.finished_at, b.outcome,
        (SELECT json_object_agg(x.state, x.n) FROM (
            SELECT c.state, sum(c.n) AS n FROM {s}.batch_count AS c
            WHERE c.batch_id = b.id GROUP BY c.state) AS x),
        (SELECT array_agg(k.job_id ORDER BY k.job_id) FROM {s}.batch_continuation AS k
            WHERE k.batch_id = b.id)
    FROM {s}.batch AS b"""

BATCHES_QUERIES: dict[str, str] = {
    # DO NOTHING: a used id (also one a concurrent create holds uncommitted, waited for)
    # returns no row, and the caller raises (its transaction stores nothing).
    "insert_batch": """
        INSERT INTO {s}.batch (id, description, created_at, total)
        VALUES (%(id)s, %(description)s, %(created_at)s, %(total)s)
        ON CONFLICT (id) DO NOTHING RETURNING id""",
    # Setting batch_id fires no UPDATE OF state trigger: the first counts are taken here, from
    # the members' rows, the only time they are ever read to count them.
    # Members got their batch_id in their insert: their first counts, by state.
    "join_batch": """
        INSERT INTO {s}.batch_count (batch_id, state, shard, n)
        SELECT %(batch)s, state, pg_backend_pid(), count(*) FROM {s}.job
        WHERE id = ANY(%(ids)s::bigint[]) GROUP BY state""",
    # Continuations created Deleted (their batch finished already) get their expiry as
    # finish_batches would give them.
    "add_continuations": """
        WITH expiring AS (
            UPDATE {s}.job SET expire_at = deleted_expire_at
            WHERE id = ANY(%(expiring)s::bigint[])
        )
        INSERT INTO {s}.batch_continuation (job_id, batch_id)
        SELECT unnest(%(ids)s::bigint[]), %(batch)s""",
    # FOR SHARE: a finisher (FOR UPDATE) cannot finish the batch between this read and the
    # continuation's commit, so it never misses the continuation; one finishing right now is
    # waited for and seen finished.
    "batch_state": "SELECT finished_at, outcome FROM {s}.batch WHERE id = %(id)s FOR SHARE",
    # Open batches whose members all settled, from the counts. SKIP LOCKED: concurrent
    # finishers take different batches; a batch finished meanwhile is re-checked and dropped.
    "done_batches": """
        SELECT b.id, b.total FROM {s}.batch AS b
        WHERE b.finished_at IS NULL AND b.total <= (
            SELECT coalesce(sum(c.n), 0) FROM {s}.batch_count AS c
            WHERE c.batch_id = b.id AND c.state IN ('Succeeded', 'Failed', 'Deleted'))
        ORDER BY b.created_at LIMIT %(limit)s
        FOR UPDATE OF b SKIP LOCKED""",
    "batch_counts": """
        SELECT state, sum(n) FROM {s}.batch_count WHERE batch_id = %(id)s GROUP BY state""",
    "finish_batch": """
        UPDATE {s}.batch SET finished_at = %(now)s, outcome = %(outcome)s
        WHERE id = %(id)s AND finished_at IS NULL RETURNING id""",
    "batch_waiting": """
        SELECT j.id, j.queue, j.on_states, j.state_id, j.deleted_expire_at
        FROM {s}.batch_continuation AS c JOIN {s}.job AS j ON j.id = c.job_id
        WHERE c.batch_id = %(id)s AND j.state = 'Awaiting' ORDER BY j.id""",
    "get_batch": _BATCH_ROW + " WHERE b.id = %(id)s",
    "list_batches": _BATCH_ROW
    + """
        ORDER BY b.created_at DESC, b.id DESC OFFSET %(offset)s LIMIT %(limit)s""",
    "count_batches": "SELECT count(*) FROM {s}.batch",
    # job_batch (batch_id, id) walks the members in creation order.
    "batch_jobs": """
        SELECT {job_columns} FROM {s}.job AS j
        JOIN {s}.job_payload AS p ON p.job_id = j.id
        JOIN {s}.job_state AS h ON h.id = j.state_id
        WHERE j.batch_id = %(id)s ORDER BY j.id OFFSET %(offset)s LIMIT %(limit)s""",
}
