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
