"""The Batches pages: the list with each batch's progress, a batch's details with its jobs,
and the delete and requeue actions."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from stoker.core.batches import BatchRecord
from stoker.core.errors import BatchNotFoundError
from stoker.core.protocols import Monitor
from stoker.core.records import JobRecord
from stoker.core.states import STATE_NAMES
from stoker.dashboard.params import ListQuery
from stoker.dashboard.render import render, root_of
from stoker.dashboard.security import checked_form, config_of, set_flash

MAX_BATCH_ID = 200
BATCH_ACTIONS = {"delete": "Deleted", "requeue": "Requeued"}


@dataclass(frozen=True)
class BatchRow:
    """A batch as the pages show it: its record and how far along it is."""

    record: BatchRecord
    percent: int  # of its jobs settled
    states: tuple[tuple[str, int], ...]  # non-zero counts, in STATE_NAMES order


def batch_row(record: BatchRecord) -> BatchRow:
    percent = 100 if record.total == 0 else round(100 * record.settled / record.total)
    states = tuple((name, record.counts.get(name, 0)) for name in STATE_NAMES)
    return BatchRow(record, percent, tuple((name, n) for name, n in states if n))


def _batch_id(request: Request) -> str:
    batch_id = str(request.path_params["batch_id"])
    if not 0 < len(batch_id) <= MAX_BATCH_ID or not batch_id.isprintable():
        raise HTTPException(404, "There is no such batch.")
    return batch_id


def _paging(request: Request, total: int) -> ListQuery:
    """The page and page size asked for (a job list's query; its state and sort go unused)."""
    return ListQuery.parse("Enqueued", request.query_params).clamped(total)


def batches(request: Request) -> Response:
    monitor = config_of(request).monitor
    query = _paging(request, monitor.count_batches())
    rows = [batch_row(b) for b in monitor.list_batches(offset=query.offset, limit=query.size)]
    return render(request, "batches.html", page="batches", rows=rows, query=query)


def batch_details(request: Request) -> Response:
    batch_id = _batch_id(request)
    monitor: Monitor = config_of(request).monitor
    found = monitor.get_batch(batch_id)
    if found is None:
        raise HTTPException(404, f"There is no batch with id {batch_id!r}.")
    query = _paging(request, found.total)
    jobs: list[JobRecord] = monitor.batch_jobs(batch_id, offset=query.offset, limit=query.size)
    continuations = monitor.job_states(list(found.continuations))
    return render(
        request,
        "batch.html",
        page="batches",
        batch=batch_row(found),
        jobs=jobs,
        query=query,
        continuations=[(i, continuations.get(i, ("gone", 0))[0]) for i in found.continuations],
    )


async def batch_action(request: Request) -> Response:
    """Delete the batch's unfinished and failed jobs, or requeue its Failed and Deleted ones."""
    form = await checked_form(request)
    batch_id = _batch_id(request)
    action = form.get("action")
    if action not in BATCH_ACTIONS:
        raise HTTPException(400, "A batch can be: delete, requeue.")
    client = config_of(request).client
    method = client.delete_batch if action == "delete" else client.requeue_batch
    try:
        moved = await run_in_threadpool(method, batch_id)
    except BatchNotFoundError:
        raise HTTPException(404, f"There is no batch with id {batch_id!r}.") from None
    response = RedirectResponse(f"{root_of(request)}/batch/{batch_id}", 303)
    noun = "job" if moved == 1 else "jobs"
    set_flash(
        request, response, "success", f"{BATCH_ACTIONS[str(action)]} {moved} {noun} of the batch."
    )
    return response


ROUTES = [
    Route("/batches", batches, name="batches"),
    Route("/batch/{batch_id}", batch_details, name="batch"),
    Route("/batch/{batch_id}/action", batch_action, methods=["POST"]),
]
