"""Statement parameters of PostgreSQL job writes, and the rows they return as records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from stoker.storage.base import FINAL_STATES, FetchedJob, StateChange

CONTINUATION_MET = "Parent job %s reached %s"
CONTINUATION_NOT_MET = "continuation condition not met"

dumps = partial(json.dumps, separators=(",", ":"))


def counters_json(change: StateChange) -> str:
    """The counter increments as a JSON array for json_to_recordset, one element per key:
    ON CONFLICT cannot update the same row twice in one statement."""
    merged: dict[str, tuple[int, datetime | None]] = {}
    for inc in change.counters:
        total, _ = merged.get(inc.key, (0, None))
        merged[inc.key] = (total + inc.by, inc.expire_at)
    return dumps(
        [
            {"k": key, "b": by, "e": expire.isoformat() if expire is not None else None}
            for key, (by, expire) in merged.items()
        ]
    )


def change_params(change: StateChange, job_id: int) -> dict[str, Any]:
    """Parameters of CHANGE_STATE / CHANGE_STATE_RELEASE for one StateChange."""
    state = change.state
    return {
        "id": job_id,
        "expected": ",".join(change.expected_states) if change.expected_states else None,
        "state_id": change.expected_state_id,
        "name": state.name,
        "reason": state.reason,
        "data": dumps(dict(state.data)),
        "at": state.created_at,
        "queue": change.queue,
        "run_at": change.run_at if state.name == "Scheduled" else None,
        "expire_at": change.expire_at,
        "server_id": state.data.get("server_id") if state.name == "Processing" else None,
        "params": dumps(dict(change.params)),
        "final": state.name in FINAL_STATES,
        "enqueued_reason": CONTINUATION_MET % (change.job_id, state.name),
        "deleted_reason": CONTINUATION_NOT_MET,
        "deleted_expire_at": change.deleted_children_expire_at,
        "counters": counters_json(change),
    }


def claim_params(
    queues: Sequence[str], server_id: str, worker_ids: list[str], nows: list[datetime]
) -> dict[str, Any]:
    """Parameters of FETCH_MANY: one job for each worker (one worker: a plain fetch)."""
    return {
        "queues": ",".join(queues),
        "server_id": server_id,
        "n": len(worker_ids),
        "worker_ids": worker_ids,
        "nows": nows,
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
