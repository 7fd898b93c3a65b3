"""Batches from a client: jobs created together when their block ends, and continued once all
of them settled (see stoker.core.batches)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

from stoker.core import reasons
from stoker.core.batches import (
    ANY_OUTCOME,
    BATCH_PARAM,
    ONLY_SUCCEEDED,
    BatchRecord,
    NewBatch,
    awaiting_batch_record,
    validate_description,
)
from stoker.core.clock import ensure_aware_utc
from stoker.core.errors import BatchNotFoundError, JobDefinitionError
from stoker.core.jobs import Invocation, JobOptions
from stoker.core.records import NewJob
from stoker.core.runtime import Runtime
from stoker.core.states import Enqueued, Scheduled, State


class Client(Protocol):
    """What batches use of the Client that makes them (stoker.client.client.Client), named
    here so that this module does not import it back."""

    @property
    def runtime(self) -> Runtime: ...

    def _has_keys(self) -> bool: ...

    def _prepare(
        self, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[Invocation, JobOptions]: ...

    def _enqueued(self, invocation: Invocation, options: JobOptions) -> NewJob: ...

    def _new_job(
        self, invocation: Invocation, options: JobOptions, state: State, **extra: Any
    ) -> NewJob: ...

    def _bulk_jobs(
        self,
        func: Callable[..., Any],
        calls: Iterable[Sequence[Any] | Mapping[str, Any]],
        what: str,
        limit: int = ...,
        batch_id: str | None = ...,
    ) -> tuple[list[NewJob], JobOptions]: ...

    def _with_limits(self, jobs: list[NewJob]) -> list[NewJob]: ...

    def _store(
        self, jobs: list[NewJob], create: Callable[[list[NewJob]], list[str]], keyed: bool = ...
    ) -> list[str]: ...

    def delete(
        self, job_id: str, *, expected_state: str | None = None, reason: str | None = None
    ) -> bool: ...

    def requeue(
        self, job_id: str, *, expected_state: str | None = None, reason: str | None = None
    ) -> bool: ...


MAX_BATCH_JOBS = 200_000
PAGE = 500  # members read at a time when a batch is deleted or requeued


class Batch:
    """The jobs of one `with client.batch(...) as batch:` block. `batch.id` is known at once;
    the jobs (and the continuations added with `then`) are created together, in one
    transaction, when the block ends without an error, and not at all if it raises.
    `batch.job_ids` lists their ids afterwards, in the order they were added."""

    def __init__(self, client: Client, description: str) -> None:
        if client._has_keys():
            raise JobDefinitionError(
                "a batch's jobs take no idempotency or unique key (a key names one job, "
                "created alone); the batch itself is created once, when its block ends"
            )
        self.id = uuid.uuid4().hex
        self.description = validate_description(description)
        self.job_ids: list[str] = []
        self._client = client
        self._jobs: list[NewJob] = []
        self._members = 0
        self._open = False

    def __enter__(self) -> Batch:
        self._open = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._open = False
        if kind is None:
            created = NewBatch(self.id, self.description, self._client.runtime.clock.now())
            storage = self._client.runtime.storage
            jobs = self._jobs
            self.job_ids = self._client._store(
                jobs, lambda made: storage.create_batch(created, made)
            )
        self._jobs = []

    def enqueue(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Add a job to run as soon as a worker is free, once the batch is created."""
        invocation, options = self._client._prepare(func, args, kwargs)
        _refuse_unique(invocation.function, options.unique)
        self._add_members([self._client._enqueued(invocation, options)])

    def enqueue_in(
        self, delay: timedelta | float, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> None:
        """Add a job to run `delay` (a timedelta or seconds) after the batch is created."""
        step = delay if isinstance(delay, timedelta) else timedelta(seconds=float(delay))
        self.enqueue_at(self._client.runtime.clock.now() + step, func, *args, **kwargs)

    def enqueue_at(
        self, when: datetime, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> None:
        """Add a job to run at `when` (an aware datetime)."""
        when = ensure_aware_utc(when, "when")
        invocation, options = self._client._prepare(func, args, kwargs)
        _refuse_unique(invocation.function, options.unique)
        queue = options.queue or self._client.runtime.default_queue
        state = Scheduled(enqueue_at=when, queue=queue)
        self._add_members([self._client._new_job(invocation, options, state, run_at=when)])

    def enqueue_many(
        self, func: Callable[..., Any], calls: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> None:
        """Add one job per item, as `enqueue_many` does."""
        self._check_open()
        left = MAX_BATCH_JOBS - self._members
        jobs, _ = self._client._bulk_jobs(func, calls, "a batch", left, self.id)
        if jobs:  # made as members, with the client's limits in their shared params
            self._client._with_limits(jobs[:1])  # checks them
            self._jobs.extend(jobs)
            self._members += len(jobs)

    def then(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Add a continuation: it waits in Awaiting until every job of the batch settled
        (Succeeded, Failed or Deleted), then runs whatever the outcome."""
        self._check_open()
        self._jobs.append(
            batch_continuation(self._client, self.id, ANY_OUTCOME, func, args, kwargs)
        )

    def then_if_succeeded(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Add a continuation that runs only if every job of the batch Succeeded (it is
        Deleted otherwise, its history saying why)."""
        self._check_open()
        continuation = batch_continuation(self._client, self.id, ONLY_SUCCEEDED, func, args, kwargs)
        self._jobs.append(continuation)

    def _add_members(self, jobs: list[NewJob]) -> None:
        self._check_open()
        if self._members + len(jobs) > MAX_BATCH_JOBS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_JOBS} jobs")
        jobs = self._client._with_limits(jobs)
        shared: dict[int, Mapping[str, Any]] = {}
        for job in jobs:
            params = shared.get(id(job.params))
            if params is None:  # jobs of one bulk call share one params mapping
                params = shared[id(job.params)] = {**job.params, BATCH_PARAM: self.id}
            self._jobs.append(replace(job, params=params, batch_id=self.id))
        self._members += len(jobs)

    def _check_open(self) -> None:
        if not self._open:
            raise JobDefinitionError(
                f"batch {self.id} was created when its block ended (or never opened): add "
                "jobs inside `with client.batch() as batch:`, or continue it with "
                "continue_batch_with"
            )


def _refuse_unique(function: str, unique: bool | None) -> None:
    if unique:
        raise JobDefinitionError(
            f"{function} is a unique job (@stoker.job(unique=True)): enqueue it on its own, "
            "not in a batch"
        )


def batch_continuation(
    client: Client,
    batch_id: str,
    on_states: tuple[str, ...],
    func: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> NewJob:
    """An Awaiting job that continues batch `batch_id` (see Storage.continue_batch)."""
    if client._has_keys():
        raise JobDefinitionError("a batch continuation takes no idempotency or unique key")
    invocation, options = client._prepare(func, args, kwargs)
    queue = options.queue or client.runtime.default_queue
    now = client.runtime.clock.now()
    job = client._new_job(
        invocation,
        options,
        Enqueued(queue=queue),
        on_states=on_states,
        deleted_expire_at=client.runtime.retention.expiry_for("Deleted", now),
    )
    waiting = awaiting_batch_record(batch_id, on_states, queue, now)
    (job,) = client._with_limits([job])
    return replace(job, state=waiting, awaits_batch=batch_id)


def change_members(client: Client, batch_id: str, action: str) -> int:
    """Delete the batch's unfinished and failed jobs, or requeue its Failed and Deleted ones,
    each with the usual compare-and-set; how many moved. Pages through the members (the
    storage lists them by id), so a large batch takes a while."""
    if client.runtime.storage.get_batch(batch_id) is None:
        raise BatchNotFoundError(batch_id)
    movable = {
        "delete": ("Enqueued", "Scheduled", "Processing", "Awaiting", "Failed"),
        "requeue": ("Failed", "Deleted"),
    }[action]
    moved = offset = 0
    while page := client.runtime.storage.batch_jobs(batch_id, offset=offset, limit=PAGE):
        for job in page:
            if job.state.name in movable and _move(
                client, batch_id, job.id, job.state.name, action
            ):
                moved += 1
        offset += len(page)
    return moved


def _move(client: Client, batch_id: str, job_id: str, state: str, action: str) -> bool:
    if action == "delete":
        return client.delete(
            job_id, expected_state=state, reason=reasons.deleted_with_batch(batch_id)
        )
    return client.requeue(
        job_id, expected_state=state, reason=reasons.requeued_with_batch(batch_id)
    )


def get_batch(client: Client, batch_id: str) -> BatchRecord | None:
    if not isinstance(batch_id, str):
        raise TypeError(f"batch_id must be a string, got {batch_id!r}")
    return client.runtime.storage.get_batch(batch_id)
