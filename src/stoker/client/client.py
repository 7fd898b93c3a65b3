"""Create and steer jobs: enqueue, delay, continue, bulk, requeue, delete and look up."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from stoker.client.batches import Batch, batch_continuation, change_members, get_batch
from stoker.client.plan import (
    MAX_PLANS,
    EnqueuePlan,
    PreparedCall,
    job_params,
    make_plan,
    plan_inputs,
)
from stoker.client.recurring import RecurringJobs
from stoker.client.waiting import wait_for_job
from stoker.core import reasons
from stoker.core.batches import ANY_OUTCOME, BATCH_PARAM, ONLY_SUCCEEDED, BatchRecord
from stoker.core.clock import ensure_aware_utc
from stoker.core.errors import JobDefinitionError, JobNotFoundError
from stoker.core.interrupts import shielded
from stoker.core.job_filters import create_filtered
from stoker.core.job_info import JobInfo
from stoker.core.jobs import (
    CRASHES_PARAM,
    IDEMPOTENCY_KEY_PARAM,
    UNIQUE_KEY_PARAM,
    Invocation,
    JobOptions,
    OnExhausted,
    exception_names,
    unique_key_of,
    validate_idempotency_key,
    validate_limits,
    validate_unique_key,
)
from stoker.core.limits import check_limits, limit_params
from stoker.core.observers import notify_created
from stoker.core.protocols import Storage
from stoker.core.records import NewJob, StateRecord
from stoker.core.runtime import Runtime
from stoker.core.schedule import MISFIRE_POLICIES, Misfire
from stoker.core.states import STATE_NAMES, Awaiting, Deleted, Enqueued, Scheduled, State

ANY_FINAL_STATE = ("Succeeded", "Failed", "Deleted")
MAX_BULK = 100_000


@dataclass(frozen=True)
class CallOptions:
    """Options of one call chain made with `with_options` (never mixed with job arguments)."""

    job: JobOptions = field(default_factory=JobOptions)
    on_any_final_state: bool = False
    misfire: Misfire = "once"
    idempotency_key: str | None = None
    unique_key: str | None = None
    # Concurrency and rate limit params given to with_options (stoker.core.limits): added to
    # each job's params at creation, so a view per call (a key per tenant) reuses the plans.
    limits: Mapping[str, Any] = field(default_factory=dict)


class Client:
    """The job-creating half of the API; `App` is a Client, `with_options` returns another.

    A Client works on a Runtime (storage, clock, state machine, defaults) shared with the App
    that made it: a change of the App's defaults is seen by all its clients at once."""

    def __init__(self, runtime: Runtime, options: CallOptions | None = None) -> None:
        self._runtime = runtime
        self._options = options or CallOptions()
        # Per-function enqueue plans of THIS client: a `with_options` view is another Client
        # with its own cache, so plans never mix options of different views.
        self._plans: dict[Callable[..., Any], EnqueuePlan] = {}

    # --- options --------------------------------------------------------------------------------
    def with_options(
        self,
        *,
        queue: str | None = None,
        retries: int | None = None,
        retry_delays: Sequence[float] | None = None,
        only_on: Sequence[type[BaseException] | str] | None = None,
        except_on: Sequence[type[BaseException] | str] | None = None,
        on_exhausted: OnExhausted | None = None,
        timeout: timedelta | None = None,
        params: Mapping[str, Any] | None = None,
        on_any_final_state: bool | None = None,
        misfire: Misfire | None = None,
        idempotency_key: str | None = None,
        unique_key: str | None = None,
        concurrency: int | None = None,
        concurrency_key: str | None = None,
        rate_limit: str | None = None,
        rate_key: str | None = None,
    ) -> Client:
        """A view of this client whose calls use these options (validated now).

        With `idempotency_key`, the job it creates is created once: calls with the same key
        within the App's `idempotency_window` (a day by default) return that job's id,
        whatever its state, and create nothing (a retry after a lost reply is safe). With
        `unique_key`, while the job holding that key is unfinished (Enqueued, Scheduled,
        Processing or Awaiting), calls with the same key return its id and create nothing.
        With `concurrency_key` and `concurrency=N`, at most N jobs of that key run at once
        across all servers; with `rate_limit="100/m"` (and `rate_key`), at most 100 jobs of
        that key start per minute (see `stoker.job`)."""
        overrides = JobOptions(
            queue=queue,
            retries=retries,
            retry_delays=tuple(retry_delays) if retry_delays is not None else None,
            only_on=exception_names(only_on),
            except_on=exception_names(except_on),
            on_exhausted=on_exhausted,
            timeout=timeout,
            params=dict(params or {}),
        )
        if misfire is not None and misfire not in MISFIRE_POLICIES:
            raise JobDefinitionError(f"misfire must be 'once', 'all' or 'skip', got {misfire!r}")
        if idempotency_key is not None:
            validate_idempotency_key(idempotency_key)
        if unique_key is not None:
            validate_unique_key(unique_key)
        validate_limits(concurrency, concurrency_key, rate_limit, rate_key)
        current = self._options
        job_options = overrides.merged_over(current.job)
        view = Client(
            self._runtime,
            CallOptions(
                job=job_options,
                on_any_final_state=(
                    current.on_any_final_state if on_any_final_state is None else on_any_final_state
                ),
                misfire=misfire or current.misfire,
                idempotency_key=idempotency_key or current.idempotency_key,
                unique_key=unique_key or current.unique_key,
                limits={
                    **current.limits,
                    **limit_params(concurrency, concurrency_key, rate_limit, rate_key),
                },
            ),
        )
        if overrides == JobOptions():
            # Plans depend on the job options only: a view that sets none (only keys or
            # continuation options: a new view per call, for per-call keys) shares this
            # client's plans instead of making them again (measured: 0.65-0.85x the enqueue
            # rate otherwise). Not when any job option is given, even one that compares equal:
            # 1 == True, and the stored params would be the other view's.
            view._plans = self._plans
        return view

    @property
    def runtime(self) -> Runtime:
        """The storage, clock, state machine and job defaults this client works with."""
        return self._runtime

    @property
    def recurring(self) -> RecurringJobs:
        """Recurring jobs, made with this client's options (queue, retries, misfire...)."""
        if self._options.idempotency_key is not None or self._options.unique_key is not None:
            raise JobDefinitionError(
                "an idempotency or unique key names one job; a recurring job makes many "
                "(drop the key)"
            )
        return RecurringJobs(self._runtime, self._prepared, self._options.misfire)

    # --- creating jobs --------------------------------------------------------------------------
    def enqueue(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
        """Run `func(*args, **kwargs)` as soon as a worker is free; returns the job id."""
        plan = self._plan(func)
        job_args, job_kwargs = plan.encode(args, kwargs)
        now = self._runtime.clock.now()
        record = Enqueued(queue=plan.queue).to_record(now)
        params = dict(plan.params)  # a copy: a storage may keep what it is given
        job = _job(plan, job_args, job_kwargs, record, now, params)
        return self._create([job], plan.options)[0]

    def enqueue_in(
        self, delay: timedelta | float, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        """Run after `delay` (a timedelta or seconds)."""
        if isinstance(delay, bool) or not isinstance(delay, timedelta | int | float):
            raise TypeError(f"delay must be a timedelta or seconds, got {delay!r}")
        try:
            step = delay if isinstance(delay, timedelta) else timedelta(seconds=delay)
            run_at = self._runtime.clock.now() + step
        except (OverflowError, ValueError) as exc:  # NaN, inf, or past year 9999
            raise ValueError(f"delay {delay!r} does not give a representable time: {exc}") from None
        return self.enqueue_at(run_at, func, *args, **kwargs)

    def enqueue_at(
        self, when: datetime, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        """Run at `when` (an aware datetime); a time in the past enqueues at once."""
        if not isinstance(when, datetime):
            raise TypeError(f"when must be an aware datetime, got {when!r}")
        run_at = ensure_aware_utc(when, "when")
        invocation, options = self._prepare(func, args, kwargs)
        now = self._runtime.clock.now()
        if run_at <= now:
            return self._create([self._enqueued(invocation, options)], options)[0]
        queue = options.queue or self._runtime.default_queue
        state = Scheduled(enqueue_at=run_at, queue=queue)
        job = self._new_job(invocation, options, state, run_at=run_at)
        return self._create([job], options)[0]

    def enqueue_many(
        self, func: Callable[..., Any], calls: Iterable[Sequence[Any] | Mapping[str, Any]]
    ) -> list[str]:
        """Enqueue one job per item (a tuple of positional or a dict of keyword arguments) in ONE
        transaction: all are stored or, if any item is bad, none."""
        jobs, options = self._bulk_jobs(func, calls, "enqueue_many")
        return self._create(jobs, options) if jobs else []

    def _bulk_jobs(
        self,
        func: Callable[..., Any],
        calls: Iterable[Sequence[Any] | Mapping[str, Any]],
        what: str,
        limit: int = MAX_BULK,
        batch_id: str | None = None,
    ) -> tuple[list[NewJob], JobOptions]:
        """The Enqueued jobs of a bulk call (members of batch `batch_id` if given), sharing
        one state record and one params mapping (storages encode a shared mapping once)."""
        plan = self._plan(func)
        if self._options.idempotency_key is not None or self._options.unique_key is not None:
            raise JobDefinitionError(
                f"an idempotency or unique key names one job; {what} makes many (drop the key, "
                "or enqueue each job with a key of its own)"
            )
        if plan.options.unique:
            raise JobDefinitionError(
                f"{plan.function} is a unique job (@stoker.job(unique=True)): enqueue its jobs "
                "one by one, each is checked against the unfinished ones"
            )
        now = self._runtime.clock.now()
        # One transaction, one moment: every job of the call shares the Enqueued record.
        record = Enqueued(queue=plan.queue).to_record(now)
        params = {**plan.params, **self._options.limits}
        if batch_id is not None:
            params[BATCH_PARAM] = batch_id
        jobs = []
        for index, call in enumerate(calls):
            try:
                args, kwargs = ((), call) if isinstance(call, Mapping) else (tuple(call), {})
                job_args, job_kwargs = plan.encode(args, kwargs)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"item {index} of {what}: {exc}") from exc
            jobs.append(_job(plan, job_args, job_kwargs, record, now, params, batch_id))
            if len(jobs) > limit:
                raise ValueError(f"{what} takes at most {limit} jobs per call")
        return jobs, plan.options

    def continue_with(
        self, parent_id: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        """Run after job `parent_id` succeeds (or reaches any final state, with
        `with_options(on_any_final_state=True)`); waits in Awaiting until then."""
        if not isinstance(parent_id, str) or not parent_id:
            raise TypeError(f"parent_id must be a job id string, got {parent_id!r}")
        invocation, options = self._prepare(func, args, kwargs)
        on_states = ANY_FINAL_STATE if self._options.on_any_final_state else ("Succeeded",)
        queue = options.queue or self._runtime.default_queue
        state = Awaiting(parent_id=parent_id, on_states=on_states, queue=queue)
        now = self._runtime.clock.now()
        job = self._new_job(
            invocation,
            options,
            state,
            parent_id=parent_id,
            on_states=on_states,
            deleted_expire_at=self._runtime.retention.expiry_for("Deleted", now),
        )
        return self._create([job], options)[0]

    # --- batches --------------------------------------------------------------------------------
    def batch(self, description: str = "") -> Batch:
        """`with client.batch("nightly import") as batch:` then `batch.enqueue(...)`,
        `enqueue_in`, `enqueue_at`, `enqueue_many` and `then(...)`: the jobs are created
        together when the block ends without an error (none if it raises); `batch.id` is
        known inside the block (see stoker.client.batches.Batch)."""
        return Batch(self, description)

    def continue_batch_with(
        self, batch_id: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        """Run once every job of batch `batch_id` settled, whatever the outcome (at once if
        the batch finished already); BatchNotFoundError for an unknown batch."""
        job = batch_continuation(self, batch_id, ANY_OUTCOME, func, args, kwargs)
        return self._store([job], lambda jobs: [self._runtime.storage.continue_batch(jobs[0])])[0]

    def continue_batch_if_succeeded(
        self, batch_id: str, func: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> str:
        """Run once every job of batch `batch_id` Succeeded; Deleted if the batch ended
        otherwise."""
        job = batch_continuation(self, batch_id, ONLY_SUCCEEDED, func, args, kwargs)
        return self._store([job], lambda jobs: [self._runtime.storage.continue_batch(jobs[0])])[0]

    @shielded()
    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """The batch: its description, jobs per state, `state` (Started, Succeeded, Failed or
        Deleted) and continuations; None if unknown."""
        return get_batch(self, batch_id)

    def delete_batch(self, batch_id: str) -> int:
        """Delete every job of the batch that is not Succeeded or Deleted; how many."""
        return change_members(self, batch_id, "delete")

    def requeue_batch(self, batch_id: str) -> int:
        """Requeue every Failed or Deleted job of the batch; how many."""
        return change_members(self, batch_id, "requeue")

    # --- steering jobs --------------------------------------------------------------------------
    def requeue(
        self, job_id: str, *, expected_state: str | None = None, reason: str | None = None
    ) -> bool:
        """Put the job back on its queue. With `expected_state`, only if it is in that state.

        A Processing job is requeued at once: its running copy is only asked to stop (its
        `cancelled` flag is set and its late outcome is ignored). Code that never checks
        `stoker.current_job().cancelled` runs on, so the job can run twice at the same time."""
        # A person decided to try again: forget earlier server crashes (poison-job counter).
        return self._move(
            job_id,
            expected_state,
            lambda queue: Enqueued(queue=queue, reason=reason or reasons.REQUEUED),
            {CRASHES_PARAM: 0},
        )

    def delete(
        self, job_id: str, *, expected_state: str | None = None, reason: str | None = None
    ) -> bool:
        """Delete the job (a running job is asked to stop through `current_job().cancelled`)."""
        return self._move(
            job_id, expected_state, lambda _queue: Deleted(reason=reason or reasons.DELETED), {}
        )

    @shielded()
    def get_job(self, job_id: str) -> JobInfo | None:
        """The job with its whole history; None if there is no such job (or it expired)."""
        if not isinstance(job_id, str):
            raise TypeError(f"job_id must be a string, got {job_id!r}")
        details = self._runtime.storage.job_details(job_id)
        return JobInfo.from_details(details) if details is not None else None

    def wait(self, job_id: str, timeout: float | timedelta | None = None) -> JobInfo:
        """Block until the job is Succeeded, Failed (retries used up) or Deleted, and return
        it; `timeout` in seconds or a timedelta (None: no limit) raises JobWaitTimeoutError.
        PostgreSQL (LISTEN/NOTIFY) and Redis (pub/sub) wake the wait when the job settles;
        SQLite is polled, 5 ms apart at first and 0.5 s apart at most."""
        return wait_for_job(self._runtime.storage, job_id, timeout)

    # --- internals ------------------------------------------------------------------------------
    @shielded()
    def _move(
        self,
        job_id: str,
        expected_state: str | None,
        make: Callable[[str], State],
        param_updates: Mapping[str, Any],
    ) -> bool:
        if expected_state is not None and expected_state not in STATE_NAMES:
            raise ValueError(f"unknown state {expected_state!r}; expected one of {STATE_NAMES}")
        details = self._runtime.storage.job_details(job_id) if isinstance(job_id, str) else None
        if details is None:
            return False
        current = details.job.state.name
        if expected_state is not None and current != expected_state:
            return False
        if current == "Deleted" and make(details.job.queue).name == "Deleted":
            return False  # deleting twice changes nothing and must not add history
        return self._runtime.state_machine.change(
            job_id,
            make(details.job.queue),
            expected_states=(current,),
            expected_state_id=details.job.state_id,
            function=details.job.function,
            queue=details.job.queue,
            params=details.job.params,
            param_updates=param_updates,
        )

    def _plan(self, func: Callable[..., Any]) -> EnqueuePlan:
        """The cached plan for `func`, made again if the App settings or @job options changed."""
        inputs = plan_inputs(self._runtime, func)
        try:
            plan = self._plans.get(func)
        except TypeError:  # an unhashable callable: no cache, make_plan will judge it
            return make_plan(self._runtime, func, self._options.job, inputs)
        if plan is None or plan.inputs != inputs:
            plan = make_plan(self._runtime, func, self._options.job, inputs)
            if len(self._plans) >= MAX_PLANS:
                self._plans.clear()
            self._plans[func] = plan
        return plan

    def _prepare(
        self, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> tuple[Invocation, JobOptions]:
        plan = self._plan(func)
        job_args, job_kwargs = plan.encode(args, kwargs)
        return Invocation(plan.function, job_args, job_kwargs), plan.options

    def _prepared(
        self, func: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> PreparedCall:
        """A checked, encoded call with its queue and params (what recurring jobs store)."""
        plan = self._plan(func)
        job_args, job_kwargs = plan.encode(args, kwargs)
        invocation = Invocation(plan.function, job_args, job_kwargs)
        params = {**plan.params, **self._options.limits}
        check_limits(plan.function, params)
        return PreparedCall(invocation, plan.options, plan.queue, params)

    def _params(self, options: JobOptions) -> dict[str, Any]:
        return job_params(options, self._runtime.default_retries)

    def _has_keys(self) -> bool:
        """Whether this client's calls carry an idempotency or a unique key."""
        return self._options.idempotency_key is not None or self._options.unique_key is not None

    def _enqueued(self, invocation: Invocation, options: JobOptions) -> NewJob:
        queue = options.queue or self._runtime.default_queue
        return self._new_job(invocation, options, Enqueued(queue=queue))

    def _new_job(
        self, invocation: Invocation, options: JobOptions, state: State, **extra: Any
    ) -> NewJob:
        now = self._runtime.clock.now()
        return NewJob(
            function=invocation.function,
            args=invocation.args,
            kwargs=invocation.kwargs,
            queue=options.queue or self._runtime.default_queue,
            state=state.to_record(now),
            created_at=now,
            params=self._params(options),
            **extra,
        )

    @shielded()  # inside a job: a timeout must not strike in the middle of the write
    def _create(self, jobs: list[NewJob], options: JobOptions) -> list[str]:
        """Store the jobs, with this client's keys (only ever one job then: enqueue_many
        refuses keys and unique functions)."""
        calls = self._options
        jobs = self._with_limits(jobs)
        keyed = (
            calls.idempotency_key is not None
            or calls.unique_key is not None
            or bool(options.unique)
        )
        if keyed:
            jobs = [self._keyed(job, bool(options.unique)) for job in jobs]
        return self._store(jobs, self._runtime.storage.create_jobs, keyed)

    def _with_limits(self, jobs: list[NewJob]) -> list[NewJob]:
        """The jobs of one call with this client's limits, checked (one function per call)."""
        limits = self._options.limits
        first = jobs[0].params
        if limits and any(first.get(name) != value for name, value in limits.items()):
            jobs = _with_params(jobs, limits)  # (a bulk call's jobs carry them already)
        check_limits(jobs[0].function, jobs[0].params)
        return jobs

    def _store(
        self, jobs: list[NewJob], create: Callable[[list[NewJob]], list[str]], keyed: bool = False
    ) -> list[str]:
        """`create(jobs)` inside the creation filters, then told to the observers."""
        runtime = self._runtime
        if runtime.creation_filters:
            ids = create_filtered(runtime.creation_filters, jobs, create)
        else:
            ids = create(jobs)
        if runtime.observers:
            self._report_created(jobs, ids, keyed)
        return ids

    def _report_created(self, jobs: list[NewJob], ids: list[str], keyed: bool) -> None:
        """Tell the observers which jobs were made: a keyed create may have made none."""
        storage = self._runtime.storage
        made = [
            job
            for job, job_id in zip(jobs, ids, strict=True)
            if not keyed or _made(storage, job, job_id)
        ]
        if made:
            notify_created(self._runtime.observers, made)

    def _keyed(self, job: NewJob, unique: bool) -> NewJob:
        """`job` with this client's idempotency and unique keys (the function's own unique key
        when `unique`); the keys are in its params too, so the dashboard shows them."""
        idempotency_key = self._options.idempotency_key
        unique_key = self._options.unique_key
        if unique_key is None and unique:
            unique_key = unique_key_of(job.function, job.args, job.kwargs)
        params = dict(job.params)
        expire_at = None
        if idempotency_key is not None:
            params[IDEMPOTENCY_KEY_PARAM] = idempotency_key
            expire_at = job.created_at + self._runtime.idempotency_window
        if unique_key is not None:
            params[UNIQUE_KEY_PARAM] = unique_key
        return replace(
            job,
            params=params,
            idempotency_key=idempotency_key,
            idempotency_expire_at=expire_at,
            unique_key=unique_key,
        )


def _made(storage: Storage, job: NewJob, job_id: str) -> bool:
    """Whether a keyed create made `job_id` (else it returned the job that holds the key):
    the stored job was created at the very moment this one was."""
    details = storage.job_details(job_id)
    # Every storage keeps times to the microsecond, and no two creates share one.
    return details is not None and details.job.created_at == job.created_at


def _job(
    plan: EnqueuePlan,
    args: str,
    kwargs: str,
    state: StateRecord,
    now: datetime,
    params: Mapping[str, Any],
    batch_id: str | None = None,
) -> NewJob:
    """An Enqueued job of `plan` (a member of batch `batch_id` if given)."""
    return NewJob(
        function=plan.function,
        args=args,
        kwargs=kwargs,
        queue=plan.queue,
        state=state,
        created_at=now,
        params=params,
        batch_id=batch_id,
    )


def _with_params(jobs: list[NewJob], extra: Mapping[str, Any]) -> list[NewJob]:
    """The jobs with `extra` merged into their params; jobs that shared one params mapping
    (a bulk enqueue) share the merged one, which storages encode once."""
    merged: dict[int, Mapping[str, Any]] = {}
    result = []
    for job in jobs:
        params = merged.get(id(job.params))
        if params is None:
            params = merged[id(job.params)] = {**job.params, **extra}
        result.append(replace(job, params=params))
    return result


def require_job(client: Client, job_id: str) -> JobInfo:
    """The job, or JobNotFoundError naming the id."""
    info = client.get_job(job_id)
    if info is None:
        raise JobNotFoundError(f"no job with id {job_id!r} (unknown, or expired and removed)")
    return info


__all__ = ["ANY_FINAL_STATE", "CallOptions", "Client", "Misfire", "require_job"]
