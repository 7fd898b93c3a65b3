"""Upkeep steps of the in-memory storage: due jobs, orphaned jobs, expiry (lock held by caller)."""

from __future__ import annotations

import heapq
from datetime import datetime

from stoker.core import reasons
from stoker.core.jobs import CRASHES_PARAM
from stoker.storage.memory.data import Effects, MemoryData, Move, dumps, loads


def enqueue_due(data: MemoryData, now: datetime, limit: int, effects: Effects) -> int:
    """Move up to `limit` Scheduled jobs due at `now`, soonest first, to Enqueued."""
    due = [job_id for run_at, job_id in data.due[: max(0, limit)] if run_at <= now]
    for job_id in due:
        row = data.jobs[job_id]
        data.move(
            row,
            Move("Enqueued", now, reasons.SCHEDULED_TIME_REACHED, dumps({"queue": row.queue})),
            effects,
        )
    return len(due)


def requeue_orphans(data: MemoryData, now: datetime, limit: int, effects: Effects) -> list[str]:
    """Move up to `limit` Processing jobs whose server is gone back to Enqueued, oldest first;
    history names the server and the job's crash count goes up by one."""
    orphans = [
        row
        for row in data.in_state("Processing")
        if row.server_id is None or row.server_id not in data.servers
    ]
    requeued = heapq.nsmallest(max(0, limit), orphans, key=lambda row: row.order_key)
    for row in requeued:
        reason = reasons.orphan_requeued(row.server_id or reasons.UNKNOWN_SERVER)
        params = loads(row.params)
        params[CRASHES_PARAM] = int(params.get(CRASHES_PARAM) or 0) + 1
        row.params = dumps(params)
        data.move(row, Move("Enqueued", now, reason, dumps({"queue": row.queue})), effects)
    return [str(job_id) for job_id in sorted(row.id for row in requeued)]


def delete_expired(data: MemoryData, now: datetime, limit: int) -> int:
    """Forget up to `limit` jobs whose expiry has passed (soonest first), then the expired
    counters and idempotency keys; return the number of jobs removed."""
    expired = [
        (row.expire_at, row.id)
        for row in data.jobs.values()
        if row.expire_at is not None and row.expire_at <= now
    ]
    chosen = [data.jobs[job_id] for _, job_id in heapq.nsmallest(max(0, limit), expired)]
    for row in chosen:
        data.remove(row)
    for key, (_, expire_at) in list(data.counters.items()):
        if expire_at is not None and expire_at <= now:
            del data.counters[key]
    for key, (_, expire_at) in list(data.idempotency.items()):
        if expire_at <= now:
            del data.idempotency[key]
    return len(chosen)
