"""Helpers of the storage contract suite: a fixed time base, record factories and comparisons."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from stoker.core import codec
from stoker.core.protocols import Storage
from stoker.core.records import (
    FetchedJob,
    JobDetails,
    NewJob,
    RecurringRecord,
    ServerRecord,
    StateChange,
)
from stoker.core.states import Awaiting, Enqueued, Scheduled, State
from stoker.testing.clock import FAKE_START

T0 = FAKE_START
DEFAULT_FUNCTION = "app.tasks:work"
SERVER = "server-1"
WORKER = "worker-1"


def at(seconds: float) -> datetime:
    """T0 plus `seconds`: every instant in the suite is written this way."""
    return T0 + timedelta(seconds=seconds)


def _initial_state(
    state: str,
    queue: str,
    run_at: datetime,
    parent_id: str | None,
    on_states: tuple[str, ...],
    reason: str | None,
) -> State:
    if state == "Enqueued":
        return Enqueued(queue=queue, reason=reason)
    if state == "Scheduled":
        return Scheduled(enqueue_at=run_at, queue=queue, reason=reason)
    if state == "Awaiting":
        if parent_id is None:
            raise ValueError("make_job(state='Awaiting') needs parent_id")
        return Awaiting(parent_id=parent_id, on_states=on_states, queue=queue, reason=reason)
    raise ValueError(f"a job is created Enqueued, Scheduled or Awaiting, not {state!r}")


def make_job(
    queue: str = "default",
    state: str = "Enqueued",
    *,
    function: str = DEFAULT_FUNCTION,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    created_at: datetime = T0,
    run_at: datetime | None = None,
    parent_id: str | None = None,
    on_states: tuple[str, ...] = ("Succeeded",),
    deleted_expire_at: datetime | None = None,
    reason: str | None = None,
) -> NewJob:
    """A NewJob as the client would build it; Scheduled defaults to run a minute after creation."""
    when = run_at if run_at is not None else created_at + timedelta(seconds=60)
    initial = _initial_state(state, queue, when, parent_id, on_states, reason)
    awaiting = state == "Awaiting"
    return NewJob(
        function=function,
        args=codec.dumps(list(args)),
        kwargs=codec.dumps(dict(kwargs or {})),
        queue=queue,
        state=initial.to_record(created_at),
        created_at=created_at,
        params=dict(params or {}),
        run_at=when if state == "Scheduled" else None,
        parent_id=parent_id if awaiting else None,
        on_states=on_states if awaiting else (),
        deleted_expire_at=deleted_expire_at if awaiting else None,
    )


def make_recurring(
    recurring_id: str = "nightly",
    *,
    next_run: datetime | None = None,
    cron: str = "* * * * *",
    queue: str = "default",
    params: Mapping[str, Any] | None = None,
    paused: bool = False,
) -> RecurringRecord:
    """A recurring job definition, due at `next_run` (default: a minute after T0)."""
    return RecurringRecord(
        id=recurring_id,
        cron=cron,
        timezone="Europe/Istanbul",
        function=f"app.recurring:{recurring_id.replace('-', '_')}",
        args=codec.dumps(["full"]),
        kwargs=codec.dumps({"keep": 7}),
        queue=queue,
        params=dict(params or {"owner": "ops"}),
        next_run=None if paused else (next_run or at(60)),
        created_at=T0,
        misfire="once",
        paused=paused,
    )


def make_server(
    server_id: str = SERVER, *, heartbeat_at: datetime = T0, queues: tuple[str, ...] = ("default",)
) -> ServerRecord:
    return ServerRecord(
        id=server_id,
        hostname="host-a",
        pid=4242,
        workers=4,
        queues=queues,
        started_at=T0,
        heartbeat_at=heartbeat_at,
    )


def create(storage: Storage, queue: str = "default", **options: Any) -> str:
    """Create one job built by `make_job(queue, **options)` and return its id."""
    (job_id,) = storage.create_jobs([make_job(queue, **options)])
    return job_id


def change(storage: Storage, job_id: str, state: State, when: datetime, **options: Any) -> bool:
    """`change_state` to `state` entered at `when`; options are the other StateChange fields."""
    return storage.change_state(StateChange(job_id, state.to_record(when), **options))


def outcome(job: FetchedJob, state: State, when: float, **options: Any) -> StateChange:
    """A worker's change of its Processing job `job`, fenced by its state id, as the state
    machine's finish_and_fetch makes it."""
    return StateChange(
        job.id,
        state.to_record(at(when)),
        expected_states=("Processing",),
        expected_state_id=job.state_id,
        **options,
    )


def details(storage: Storage, job_id: str) -> JobDetails:
    found = storage.job_details(job_id)
    assert found is not None, f"job {job_id} should exist"
    return found


def state_of(storage: Storage, job_id: str) -> str:
    return details(storage, job_id).job.state.name


def history_names(storage: Storage, job_id: str) -> list[str]:
    return [entry.name for entry in details(storage, job_id).history]


def fetch_id(storage: Storage, queues: Sequence[str], now: datetime = T0) -> str | None:
    fetched = storage.fetch_next(queues, SERVER, WORKER, now)
    return None if fetched is None else fetched.id


def drain(storage: Storage, queues: Sequence[str], now: datetime = T0) -> list[str]:
    """Fetch until the queues are empty; the ids in the order they were claimed."""
    ids: list[str] = []
    while (job_id := fetch_id(storage, queues, now)) is not None:
        ids.append(job_id)
    return ids


def ms(value: datetime) -> datetime:
    """`value` checked to be aware UTC, truncated to the millisecond storages must keep."""
    assert value.tzinfo is not None, f"{value!r} is naive; storages return aware UTC datetimes"
    assert value.utcoffset() == timedelta(0), f"{value!r} is not in UTC"
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def normalized(value: Any) -> Any:
    """`value` with datetimes checked and cut to milliseconds and mappings as plain dicts,
    so records from any storage compare equal to what was stored."""
    if isinstance(value, datetime):
        return ms(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: normalized(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return (type(value).__name__, fields)
    if isinstance(value, Mapping):
        return {key: normalized(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(normalized(item) for item in value)
    if isinstance(value, list):
        return [normalized(item) for item in value]
    return value


def assert_same(actual: Any, expected: Any) -> None:
    """Records equal up to millisecond precision (and every datetime aware UTC)."""
    assert normalized(actual) == normalized(expected)


class ContractSupport:
    """Factories shared by the contract mixins, reachable as `self.make_job(...)` too."""

    make_job = staticmethod(make_job)
    make_recurring = staticmethod(make_recurring)
    make_server = staticmethod(make_server)
