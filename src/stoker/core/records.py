"""The records storages keep: jobs, states, changes, servers, recurring jobs and log lines.

Values only (frozen dataclasses); the storage protocols that pass them are in
stoker.core.protocols.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StateRecord:
    """One entry of a job's state history."""

    name: str
    created_at: datetime
    reason: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewJob:
    """A job to create. `state` is Enqueued, Scheduled or Awaiting."""

    function: str
    args: str  # tagged JSON text of the positional arguments (a list)
    kwargs: str  # tagged JSON text of the keyword arguments (an object)
    queue: str
    state: StateRecord
    created_at: datetime
    params: Mapping[str, Any] = field(default_factory=dict)
    run_at: datetime | None = None  # Scheduled: when it becomes Enqueued
    parent_id: str | None = None  # Awaiting: the job it continues
    # Awaiting: parent states that release the child to Enqueued. If the parent reaches another
    # final state instead, the child is Deleted ("continuation condition not met").
    on_states: tuple[str, ...] = ()
    # Awaiting: expiry for a child deleted because its parent ended the wrong way.
    deleted_expire_at: datetime | None = None
    # With an idempotency key, creating the job again before `idempotency_expire_at` (compared
    # with the new job's `created_at`) creates nothing and returns the first job's id.
    idempotency_key: str | None = None
    idempotency_expire_at: datetime | None = None
    # With a unique key, creating the job while the job that holds the key is unfinished
    # (stoker.core.states.UNFINISHED_STATES) creates nothing and returns that job's id.
    unique_key: str | None = None
    # A member of that batch (Storage.create_batch), counted per state with it.
    batch_id: str | None = None
    # Awaiting: the batch it continues (with `on_states`, the batch outcomes that release it).
    awaits_batch: str | None = None


def keyed_job(jobs: Sequence[NewJob]) -> NewJob | None:
    """The job of a `create_jobs` call if it has an idempotency or unique key, else None.

    A keyed job is created alone (one per call, as the client makes them): storages check its
    keys in one atomic step; ValueError if it comes with other jobs."""
    if not any(job.idempotency_key is not None or job.unique_key is not None for job in jobs):
        return None
    if len(jobs) > 1:
        raise ValueError("a job with an idempotency or unique key is created alone")
    return jobs[0]


def same_but_arguments(job: NewJob, previous: NewJob) -> bool:
    """True if `job` differs from `previous` in its arguments at most. Jobs of one bulk enqueue
    share their state record and params mapping, so this is cheap (identity first)."""
    return (
        job.state is previous.state
        and job.params is previous.params
        and job.function == previous.function
        and job.queue == previous.queue
        and job.created_at == previous.created_at
        and job.run_at == previous.run_at
        and job.parent_id == previous.parent_id
        and job.on_states == previous.on_states
        and job.deleted_expire_at == previous.deleted_expire_at
        and job.batch_id == previous.batch_id
        and job.awaits_batch == previous.awaits_batch
    )


@dataclass(frozen=True)
class CounterIncrement:
    """Add `by` to counter `key`; a counter with `expire_at` disappears after that time."""

    key: str
    by: int = 1
    expire_at: datetime | None = None


@dataclass(frozen=True)
class StateChange:
    """Move one job to `state`, only if it is in an expected state (compare-and-set).

    Applied in one transaction together with: the history row, the queue/schedule placement,
    the job's expiry, parameter updates, counter increments and (if `release_continuations`)
    the resolution of every Awaiting child of this job.
    """

    job_id: str
    state: StateRecord
    expected_states: tuple[str, ...] = ()  # empty: any current state
    expected_state_id: int | None = None  # fencing token: the job's state_id must be this
    queue: str | None = None  # Enqueued: the queue to put the job on (also becomes job.queue)
    run_at: datetime | None = None  # Scheduled: when it becomes Enqueued
    expire_at: datetime | None = None  # final states: when the job is removed from storage
    params: Mapping[str, Any] = field(default_factory=dict)  # merged into the job's params
    counters: tuple[CounterIncrement, ...] = ()
    release_continuations: bool = False
    deleted_children_expire_at: datetime | None = None
    # The concurrency key of the slot the job took under `expected_state_id` (a worker's
    # outcome of a limited job): given back in the same step, whether or not the change
    # applies, and the key's waiters enqueued as Storage.release_slot does.
    release_slot: str | None = None


@dataclass(frozen=True)
class FetchedJob:
    """A job claimed by a worker and moved to Processing."""

    id: str
    function: str
    args: str
    kwargs: str
    queue: str
    params: Mapping[str, Any]
    created_at: datetime
    enqueued_at: datetime  # when it entered Enqueued, for latency
    state_id: int  # fencing token of this Processing state


@dataclass(frozen=True)
class Gate:
    """A claimed job's limits, checked by `Storage.admit` before the job runs."""

    job_id: str
    state_id: int  # its Processing state: nothing happens if the job moved on
    now: datetime
    concurrency_key: str | None = None
    concurrency: int = 0
    rate_key: str | None = None
    rate_count: int = 0
    rate_period: float = 0.0  # seconds
    # The Awaiting state written when no slot of `concurrency_key` is free.
    waiting: StateRecord | None = None


@dataclass(frozen=True)
class Admission:
    """What `Storage.admit` decided: run now, or not (parked in Awaiting for a slot, or the
    claim was gone), or not before `run_at` (a start reserved under the rate limit; the caller
    schedules the job for then)."""

    admitted: bool
    run_at: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """A job in Processing and who claimed it: enough to move it on, fenced by `state_id`."""

    job_id: str
    queue: str
    state_id: int  # fencing token of the Processing state


@dataclass(frozen=True)
class JobRecord:
    """A job as the monitor lists it."""

    id: str
    function: str
    args: str
    kwargs: str
    queue: str
    params: Mapping[str, Any]
    created_at: datetime
    state: StateRecord
    state_id: int
    expire_at: datetime | None = None
    parent_id: str | None = None
    progress: float | None = None


@dataclass(frozen=True)
class LogLine:
    """A line a running job wrote with `current_job().log()`."""

    created_at: datetime
    message: str


@dataclass(frozen=True)
class JobDetails:
    """Everything stored about one job."""

    job: JobRecord
    history: tuple[StateRecord, ...]  # oldest first; history[-1] is the current state
    logs: tuple[LogLine, ...]
    continuations: tuple[str, ...]  # ids of the jobs that continue this one


@dataclass(frozen=True)
class ServerRecord:
    """A running `stoker server` (or embedded server)."""

    id: str
    hostname: str
    pid: int
    workers: int
    queues: tuple[str, ...]
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class RecurringRecord:
    """A recurring job definition and its bookkeeping."""

    id: str
    cron: str
    timezone: str
    function: str
    args: str
    kwargs: str
    queue: str
    params: Mapping[str, Any]
    next_run: datetime | None  # None while paused
    created_at: datetime
    misfire: str = "once"  # "once" | "all" | "skip"
    paused: bool = False
    last_run: datetime | None = None
    last_job_id: str | None = None
    error: str | None = None  # last error while scheduling, shown to people


@dataclass(frozen=True)
class SearchResult:
    """One page of a search (see `Monitor.search_jobs`) and how many jobs match in all."""

    total: int
    jobs: tuple[JobRecord, ...]
    window: int  # how many of the state's newest jobs were searched for the text
