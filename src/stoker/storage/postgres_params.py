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


def release_params(change: StateChange, job_id: int) -> dict[str, Any]:
    """Parameters of RELEASE_CHILDREN for the children of job `job_id` after `change`."""
    state = change.state
    return {
        "parent_id": job_id,
        "name": state.name,
        "at": state.created_at,
        "final": state.name in FINAL_STATES,
        "enqueued_reason": CONTINUATION_MET % (change.job_id, state.name),
        "deleted_reason": CONTINUATION_NOT_MET,
        "deleted_expire_at": change.deleted_children_expire_at,
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


_CHANGE_COLUMNS = (
    "id", "expected", "state_id", "name", "reason", "data", "at", "queue", "run_at",
    "expire_at", "server_id", "params", "final", "release", "enqueued_reason",
    "deleted_expire_at",
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
        CONTINUATION_MET % (change.job_id, state.name),
        change.deleted_children_expire_at,
    )


def change_states_params(changes: Sequence[tuple[StateChange, int]]) -> dict[str, Any]:
    """Column arrays of CHANGE_STATES; counters as one JSON array tagged with their job."""
    rows = [_change_row(change, job_id) for change, job_id in changes]
    params: dict[str, Any] = {
        name: list(values)
        for name, values in zip(_CHANGE_COLUMNS, zip(*rows, strict=True), strict=True)
    }
    counters = [
        {
            "j": job_id,
            "k": inc.key,
            "b": inc.by,
            "e": inc.expire_at.isoformat() if inc.expire_at is not None else None,
        }
        for change, job_id in changes
        for inc in change.counters
    ]
    params["counters"] = dumps(counters)
    params["deleted_reason"] = CONTINUATION_NOT_MET
    return params
