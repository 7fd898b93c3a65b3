"""Statement parameters of PostgreSQL job writes, and the rows they return as records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

from stoker.core import reasons
from stoker.core.jobs import CRASHES_PARAM
from stoker.core.records import CounterIncrement, FetchedJob, StateChange
from stoker.core.states import FINAL_STATES, processing_state

dumps = partial(json.dumps, separators=(",", ":"))
ORPHAN_HEAD, ORPHAN_TAIL = reasons.pieces(reasons.orphan_requeued, 1)


def release_params(
    change: StateChange, job_id: int, parent_state: str | None = None
) -> dict[str, Any]:
    """Parameters of RELEASE_CHILDREN for the children of job `job_id`, which entered
    `parent_state` (default: the state of `change`) in the course of `change`."""
    state = change.state
    name = parent_state or state.name
    return {
        "parent_id": job_id,
        "name": name,
        "at": state.created_at,
        "final": name in FINAL_STATES,
        "enqueued_reason": reasons.continuation_met(str(job_id), name),
        "deleted_reason": reasons.continuation_not_met(str(job_id), name),
        "deleted_expire_at": change.deleted_children_expire_at,
    }


def claim_params(
    queues: Sequence[str], server_id: str, worker_ids: list[str], nows: list[datetime]
) -> dict[str, Any]:
    """Parameters of FETCH_MANY: one job for each worker (one worker: a plain fetch)."""
    claims = [_processing(server_id, worker_id) for worker_id in worker_ids]
    return {
        "queues": ",".join(queues),
        "server_id": server_id,
        "n": len(worker_ids),
        "reasons": [reason for reason, _ in claims],
        "datas": [data for _, data in claims],
        "nows": nows,
    }


@lru_cache(maxsize=1024)
def _processing(server_id: str, worker_id: str) -> tuple[str | None, str]:
    """Reason and data text of a claim's state; the same for every fetch of one worker."""
    state = processing_state(server_id, worker_id)
    return state.reason, dumps(state.data())


def due_params(now: datetime, limit: int) -> dict[str, Any]:
    """Parameters of ENQUEUE_DUE."""
    return {"now": now, "limit": limit, "reason": reasons.SCHEDULED_TIME_REACHED}


def orphan_params(now: datetime, limit: int) -> dict[str, Any]:
    """Parameters of REQUEUE_ORPHANS: the reason's text around the server id, the crash key."""
    return {
        "now": now,
        "limit": limit,
        "reason_head": ORPHAN_HEAD,
        "reason_tail": ORPHAN_TAIL,
        "unknown_server": reasons.UNKNOWN_SERVER,
        "crashes": CRASHES_PARAM,
    }


def fetched_job(row: tuple[Any, ...] | None) -> FetchedJob | None:
    if row is None:
        return None
    return FetchedJob(
        id=str(row[0]),
        function=row[1],
        args=row[2],
        kwargs=row[3],
        queue=row[4],
        params=row[5],
        created_at=row[6],
        enqueued_at=row[7],
        state_id=int(row[8]),
    )


_CHANGE_COLUMNS = (
    "id", "expected", "state_id", "name", "reason", "data", "at", "queue", "run_at",
    "expire_at", "server_id", "params", "final", "release", "enqueued_reason",
    "deleted_reason", "deleted_expire_at",
)  # fmt: skip


def _change_row(change: StateChange, job_id: int) -> tuple[Any, ...]:
    state = change.state
    return (
        job_id,
        ",".join(change.expected_states) if change.expected_states else None,
        change.expected_state_id,
        state.name,
        state.reason,
        dumps(dict(state.data)),
        state.created_at,
        change.queue,
        change.run_at if state.name == "Scheduled" else None,
        change.expire_at,
        state.data.get("server_id") if state.name == "Processing" else None,
        dumps(dict(change.params)),
        state.name in FINAL_STATES,
        change.release_continuations,
        reasons.continuation_met(change.job_id, state.name),
        reasons.continuation_not_met(change.job_id, state.name),
        change.deleted_children_expire_at,
    )


def _counter(inc: CounterIncrement) -> dict[str, Any]:
    """One increment as a json_to_recordset row: key, by, expire_at."""
    return {
        "k": inc.key,
        "b": inc.by,
        "e": inc.expire_at.isoformat() if inc.expire_at is not None else None,
    }


def counters_json(increments: Sequence[CounterIncrement]) -> str:
    """Increments as the JSON array that add_counters reads with json_to_recordset."""
    return dumps([_counter(inc) for inc in increments])


def change_states_params(changes: Sequence[tuple[StateChange, int]]) -> dict[str, Any]:
    """Column arrays of CHANGE_STATES; counters as one JSON array tagged with their job."""
    rows = [_change_row(change, job_id) for change, job_id in changes]
    params: dict[str, Any] = {
        name: list(values)
        for name, values in zip(_CHANGE_COLUMNS, zip(*rows, strict=True), strict=True)
    }
    counters = [
        {"j": job_id, **_counter(inc)} for change, job_id in changes for inc in change.counters
    ]
    params["counters"] = dumps(counters)
    return params
