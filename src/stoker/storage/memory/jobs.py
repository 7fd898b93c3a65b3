"""Job writes of the in-memory storage: create (with keys and continuations), claim, change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from stoker.core.errors import JobNotFoundError
from stoker.core.records import CounterIncrement, FetchedJob, NewJob, StateChange
from stoker.core.states import UNFINISHED_STATES, continuation_state, processing_state
from stoker.storage.memory.data import (
    BatchRow,
    Effects,
    JobRow,
    MemoryData,
    Move,
    StoredState,
    dumps,
    dumps_mapping,
    loads,
    utc,
    utc_or_none,
)


def parse_job_id(job_id: str) -> int | None:
    """The integer behind a job id; None for anything that cannot be one of ours."""
    text = job_id.strip() if isinstance(job_id, str) else ""
    return int(text) if text.isascii() and text.isdigit() and int(text) > 0 else None


def insert_jobs(
    data: MemoryData, jobs: Sequence[NewJob], effects: Effects, batch: BatchRow | None = None
) -> list[str]:
    """Create `jobs` (lock held); JobNotFoundError, with nothing stored, for a missing parent.
    With a new `batch`, it is stored too, and the jobs whose `batch_id` is its id become its
    members."""
    parents: dict[str, str] = {}
    for job in jobs:
        if job.parent_id is not None:
            parent = data.jobs.get(parse_job_id(job.parent_id) or 0)
            if parent is None:
                raise JobNotFoundError(job.parent_id)
            parents[job.parent_id] = parent.state.name
    batch_id = None
    if batch is not None:
        data.add_batch(batch)
        batch_id = batch.id
    ids = []
    for job in jobs:
        row = _new_row(data.next_id, job, parents.get(job.parent_id or ""))
        if batch_id is not None and job.batch_id == batch_id:
            row.batch_id = batch_id  # counted from its first state on (MemoryData.add)
        data.next_id += 1
        data.add(row, effects)
        ids.append(str(row.id))
    return ids


def _new_row(job_id: int, job: NewJob, parent_state: str | None) -> JobRow:
    """The row of a new job; an Awaiting one whose parent already decided starts resolved."""
    state = job.state
    stored = StoredState(state.name, utc(state.created_at), state.reason, dumps_mapping(state.data))
    expire_at = None
    if state.name == "Awaiting" and parent_state is not None and job.parent_id is not None:
        resolved = continuation_state(job.parent_id, parent_state, job.on_states, job.queue)
        if resolved is not None:
            stored = StoredState(
                resolved.name, stored.created_at, resolved.reason, dumps(resolved.data())
            )
            if resolved.name == "Deleted":
                expire_at = utc_or_none(job.deleted_expire_at)
    return JobRow(
        id=job_id,
        function=job.function,
        args=job.args,
        kwargs=job.kwargs,
        queue=job.queue,
        params=dumps_mapping(job.params),
        created_at=utc(job.created_at),
        state=stored,
        run_at=utc_or_none(job.run_at) if stored.name == "Scheduled" else None,
        expire_at=expire_at,
        parent_id=parse_job_id(job.parent_id) if job.parent_id else None,
        on_states=tuple(job.on_states),
        deleted_expire_at=utc_or_none(job.deleted_expire_at),
    )


def insert_keyed(data: MemoryData, job: NewJob, effects: Effects) -> list[str]:
    """Create `job` unless its idempotency key still names a job, or its unique key is held by
    an unfinished one: then that job's id (the lock makes the look and the insert one step)."""
    job_id, named = _known_id(data, job)
    if job_id is None:
        (created,) = insert_jobs(data, [job], effects)
        job_id = int(created)
        if job.unique_key is not None:
            data.unique[job.unique_key] = job_id
    if job.idempotency_key is not None and not named:  # a hit keeps its first expiry
        expire_at = utc(job.idempotency_expire_at or job.created_at)
        data.idempotency[job.idempotency_key] = (job_id, expire_at)
    return [str(job_id)]


def _known_id(data: MemoryData, job: NewJob) -> tuple[int | None, bool]:
    """The id of the job `job`'s keys name (None if none), and whether its idempotency key
    named it."""
    if job.idempotency_key is not None:
        found = data.idempotency.get(job.idempotency_key)
        if found is not None and found[1] > job.created_at:
            return found[0], True
    if job.unique_key is not None:
        holder = data.jobs.get(data.unique.get(job.unique_key, 0))
        if holder is not None and holder.state.name in UNFINISHED_STATES:
            return holder.id, False
    return None, False


def claim_next(
    data: MemoryData,
    queues: Sequence[str],
    server_id: str,
    worker_id: str,
    now: datetime,
    effects: Effects,
) -> FetchedJob | None:
    """Move the oldest Enqueued job of the first queue that has one to Processing (lock held)."""
    for queue in queues:
        keys = data.enqueued.get(queue)
        if not keys:
            continue
        row = data.jobs[keys[0][1]]
        enqueued_at = row.state.created_at
        state = processing_state(server_id, worker_id)
        move = Move("Processing", now, state.reason, dumps(state.data()), server_id=server_id)
        data.move(row, move, effects)
        return FetchedJob(
            id=str(row.id),
            function=row.function,
            args=row.args,
            kwargs=row.kwargs,
            queue=row.queue,
            params=loads(row.params),
            created_at=row.created_at,
            enqueued_at=enqueued_at,
            state_id=row.state_id,
        )
    return None


def apply_change(data: MemoryData, change: StateChange, effects: Effects) -> bool:
    """Compare-and-set a job's state, with its params, counters and continuations (lock held)."""
    row = data.jobs.get(parse_job_id(change.job_id) or 0)
    if row is None:
        return False
    if change.expected_states and row.state.name not in change.expected_states:
        return False
    if change.expected_state_id is not None and row.state_id != change.expected_state_id:
        return False
    state = change.state
    if change.params:  # top-level keys replace, as on every storage
        row.params = dumps({**loads(row.params), **change.params})
    move = Move(
        name=state.name,
        at=state.created_at,
        reason=state.reason,
        data=dumps_mapping(state.data),
        queue=change.queue,
        run_at=change.run_at,
        expire_at=change.expire_at,
        server_id=state.data.get("server_id"),
    )
    data.move(row, move, effects)
    add_counters(data, change.counters)
    if change.release_continuations:
        release_children(data, row, change, effects)
    return True


def release_children(
    data: MemoryData, parent: JobRow, change: StateChange, effects: Effects
) -> None:
    """Resolve the Awaiting children of a job that just entered its state: enqueue those
    waiting for it, delete those whose condition can no longer be met (the parent is final),
    and resolve the children of those deleted in turn, so no grandchild waits forever."""
    at = parent.state.created_at
    work = [(parent, parent.state.name)]
    while work:
        job, job_state = work.pop()
        for child_id in job.children:
            child = data.jobs.get(child_id)
            if child is None or child.state.name != "Awaiting" or data.is_parked(child_id):
                continue  # (a child parked for a concurrency slot is long past its parent's say)
            resolved = continuation_state(str(job.id), job_state, child.on_states, child.queue)
            if resolved is None:
                continue
            expiry = None
            if resolved.name == "Deleted":
                expiry = change.deleted_children_expire_at or child.deleted_expire_at
                work.append((child, "Deleted"))
            move = Move(
                resolved.name, at, resolved.reason, dumps(resolved.data()), expire_at=expiry
            )
            data.move(child, move, effects)


def add_counters(data: MemoryData, increments: Sequence[CounterIncrement]) -> None:
    """Add each increment to its counter; the counter's expiry becomes the increment's."""
    for increment in increments:
        value, _ = data.counters.get(increment.key, (0, None))
        data.counters[increment.key] = (value + increment.by, utc_or_none(increment.expire_at))
