"""Query plans of the PostgreSQL storage on a large table: hot and dashboard queries use indexes.

Run with `-s` to see every plan. The table holds 300,000 jobs in a realistic mix (mostly
Succeeded, a few percent in each other state); the statements are the storage's own SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg

from stoker.core.records import CounterIncrement, StateChange, StateRecord
from stoker.storage import open_storage
from stoker.storage.postgres import PostgresStorage
from stoker.storage.postgres.params import (
    change_states_params,
    claim_params,
    due_params,
    orphan_params,
)

NOW = datetime(2036, 1, 20, tzinfo=UTC)
JOBS = 300_000

# Job g: state by g % 100 (90% Succeeded with expiry, 5% Failed, 2% Enqueued, 1% Scheduled,
# 1% Processing on one of 7 servers, 1% Awaiting a parent); every 10th job on queue "mail".
_POPULATE = """
INSERT INTO job (id, queue, state, state_id, state_at, created_at, params, run_at, expire_at,
    server_id, parent_id)
SELECT g, CASE WHEN g %% 10 = 0 THEN 'mail' ELSE 'default' END,
    CASE WHEN g %% 100 < 90 THEN 'Succeeded' WHEN g %% 100 < 95 THEN 'Failed'
         WHEN g %% 100 < 97 THEN 'Enqueued' WHEN g %% 100 < 98 THEN 'Scheduled'
         WHEN g %% 100 < 99 THEN 'Processing' ELSE 'Awaiting' END,
    g, t, t, '{}'::jsonb,
    CASE WHEN g %% 100 = 97 THEN t + interval '30 days' END,
    CASE WHEN g %% 100 < 90 THEN t + interval '30 days' END,
    CASE WHEN g %% 100 = 98 THEN 'server-' || (g %% 7) END,
    CASE WHEN g %% 100 = 99 THEN g - 1 END
FROM generate_series(1, %(jobs)s) AS g,
    LATERAL (SELECT '2036-01-01'::timestamptz + g * interval '1 second' AS t) AS x;
INSERT INTO job_payload
SELECT id, 'app.tasks:task_' || (id % 20), '[' || id || ', "user' || id || '@example.com"]', '{}'
FROM job;
INSERT INTO job_state (id, job_id, name, reason, data, created_at)
SELECT id, id, state, NULL, '{}', state_at FROM job;
INSERT INTO state_count (state, queue, shard, n)
SELECT state, queue, 0, count(*) FROM job GROUP BY state, queue;
SELECT setval('job_id_seq', %(jobs)s + 1), setval('job_state_id_seq', %(jobs)s + 1);
ANALYZE;
"""


def _outcomes(count: int) -> list[tuple[StateChange, int]]:
    """Succeeded outcomes of `count` Processing jobs (ids 98, 198, ...), as workers send them."""
    done = StateRecord("Succeeded", NOW, None, {"result": None})
    return [
        (
            StateChange(
                str(n), done, ("Processing",), n, counters=(CounterIncrement("stats:succeeded"),),
                release_continuations=True,
            ),
            n,
        )
        for n in range(98, 98 + 100 * count, 100)
    ]  # fmt: skip


# (statement, parameters) of every hot query and every Monitor query that pages or counts.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "fetch_next": ("fetch_many", claim_params(["mail", "default"], "s", ["w"], [NOW])),
    "fetch for 8 workers": (
        "fetch_many",
        claim_params(["mail", "default"], "s", [f"w{n}" for n in range(8)], [NOW] * 8),
    ),
    "finish 8 jobs": ("change_states", change_states_params(_outcomes(8))),
    "enqueue_due_scheduled": ("enqueue_due", due_params(NOW, 100)),
    "delete_expired": ("delete_expired", {"now": NOW, "limit": 100}),
    "requeue_orphaned_jobs": ("requeue_orphans", orphan_params(NOW, 100)),
    "list_jobs(Succeeded)": (
        "list_False_True",
        {"state": "Succeeded", "queue": None, "offset": 100_000, "limit": 50},
    ),
    "list_jobs(Enqueued, mail)": (
        "list_True_False",
        {"state": "Enqueued", "queue": "mail", "offset": 0, "limit": 50},
    ),
    "list_jobs(Failed, search)": (
        "search_False",
        {"state": "Failed", "queue": None, "pattern": "%task\\_1%", "window": 10_000},
    ),
    "search by id": ("search_id_False", {"state": "Failed", "queue": None, "search_id": 7}),
    "job_details": ("job_details", {"id": 12_345}),
    "processing_counts": ("processing_counts", {}),
    "claimed_jobs": ("claimed_jobs", {"server": "s", "worker": "w"}),
    "count_by_state": ("count_by_state", {}),
    "queue_lengths": ("queue_lengths", {}),
    "count_jobs(Failed)": ("count_state", {"state": "Failed"}),
    # list_jobs("Scheduled", by_due=True): key ranges of job_scheduled, never a sort.
    "by_due latest first": ("due_keys_False_True", {"queue": None, "offset": 1_000, "limit": 50}),
    "by_due soonest first": ("due_keys_False_False", {"queue": None, "offset": 0, "limit": 50}),
    "by_due jobs due later": ("due_later_False", {"queue": None, "due": NOW}),
    "by_due jobs due together": (
        "due_tied_False",
        {"queue": None, "due": NOW, "skip": 10, "count": 50},
    ),
    "by_due mail latest first": (
        "due_keys_True_True",
        {"queue": "mail", "offset": 100, "limit": 50},
    ),
    "by_due mail jobs due later": ("due_later_True", {"queue": "mail", "due": NOW}),
    "by_due mail jobs due together": (
        "due_tied_True",
        {"queue": "mail", "due": NOW, "skip": 0, "count": 50},
    ),
}

_BIG_TABLES = {"job", "job_state", "job_payload"}


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _walks_job_scheduled(plan: dict[str, Any]) -> bool:
    """The plan reads the due index job_scheduled and sorts nothing."""
    nodes = list(_nodes(plan))
    uses = any(node.get("Index Name") == "job_scheduled" for node in nodes)
    return uses and not any("Sort" in node["Node Type"] for node in nodes)


def _plan(storage: PostgresStorage, case: str) -> tuple[dict[str, Any], str]:
    name, params = CASES[case]
    statement = storage._q[name]
    with psycopg.connect(storage._db.conninfo) as conn:
        # EXPLAIN only plans: nothing is executed, so write statements change nothing.
        row = conn.execute("EXPLAIN (FORMAT JSON) " + statement, params).fetchone()
        text = conn.execute("EXPLAIN " + statement, params).fetchall()
        conn.rollback()
    assert row is not None
    plan = row[0][0]["Plan"] if isinstance(row[0], list) else json.loads(row[0])[0]["Plan"]
    return plan, "\n".join(line for (line,) in text)


def test_hot_and_dashboard_queries_read_no_big_table_sequentially(postgres_url: str) -> None:
    storage = open_storage(postgres_url)
    assert isinstance(storage, PostgresStorage)
    try:
        with psycopg.connect(storage._db.conninfo, autocommit=True) as conn:
            conn.execute(f'SET search_path = "{storage.schema}"')
            for statement in _POPULATE.split(";"):
                if statement.strip():
                    conn.execute(statement, {"jobs": JOBS} if "%(jobs)s" in statement else None)
        offenders: dict[str, list[str]] = {}
        unordered: list[str] = []
        for case in sorted(CASES):
            plan, text = _plan(storage, case)
            print(f"\n--- {case}\n{text}")
            scans = [
                str(node.get("Relation Name"))
                for node in _nodes(plan)
                if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in _BIG_TABLES
            ]
            if scans:
                offenders[case] = scans
            if case.startswith("by_due") and not _walks_job_scheduled(plan):
                unordered.append(case)
        assert offenders == {}, f"sequential scans of big tables: {offenders}"
        assert unordered == [], f"by_due statements not walking job_scheduled: {unordered}"
    finally:
        storage.close()
