"""Runtime: what the client, the server and the dashboard share: storage, clock, rules, defaults."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from stoker.core.clock import Clock, SystemClock
from stoker.core.filters import ContinuationsFilter, RetryFilter, StatisticsFilter
from stoker.core.job_filters import CreationFilter, Filter, PerformFilter, sort_filters
from stoker.core.jobs import DEFAULT_QUEUE, DEFAULT_RETRIES, validate_queue_name
from stoker.core.observers import JobObserver
from stoker.core.protocols import Storage
from stoker.core.state_machine import Retention, StateFilter, StateMachine


# Not frozen, on purpose: an App's job defaults and job policy may be changed after it was made
# (`app.default_queue = "mail"`), and the client's enqueue plans and the server's workers read
# them from this one shared object, so every part sees a change at once.
@dataclass(eq=False)
class Runtime:
    """One App's storage, clock, state machine, retention, job defaults and job policy."""

    storage: Storage
    clock: Clock
    state_machine: StateMachine
    retention: Retention
    default_queue: str = DEFAULT_QUEUE
    default_retries: int = DEFAULT_RETRIES
    # How long an idempotency key names the job it made (`with_options(idempotency_key=…)`).
    idempotency_window: timedelta = timedelta(days=1)
    # Job policy: which functions may be enqueued and run.
    require_marked_jobs: bool = False
    allowed_modules: tuple[str, ...] | None = None
    # Filters around the client's creation of jobs and around each job function's run (empty,
    # as they are unless an App is given some, they cost one check per enqueue and per job).
    creation_filters: tuple[CreationFilter, ...] = ()
    perform_filters: tuple[PerformFilter, ...] = ()
    # Told of job creations, claims and run times (stoker.metrics is one); see JobObserver.
    observers: tuple[JobObserver, ...] = ()

    def observe(self, observer: JobObserver, state_filter: StateFilter | None = None) -> None:
        """Add `observer`, and `state_filter` after every other filter. Servers made before
        this call keep the filters they were made with."""
        self.observers = (*self.observers, observer)
        if state_filter is not None:
            machine = self.state_machine
            self.state_machine = StateMachine(
                machine.storage, machine.clock, [*machine.filters, state_filter], machine.retention
            )


def build_runtime(
    storage: Storage,
    *,
    clock: Clock | None = None,
    retention: Retention | None = None,
    default_retries: int = DEFAULT_RETRIES,
    default_queue: str = DEFAULT_QUEUE,
    filters: Sequence[Filter] = (),
    require_marked_jobs: bool = False,
    allowed_modules: Sequence[str] | None = None,
    idempotency_window: timedelta = timedelta(days=1),
) -> Runtime:
    """A Runtime with checked settings and the built-in state filters (retry, continuations,
    statistics) ahead of the state filters of `filters`; its creation and perform filters
    go to the Runtime, in the order given."""
    if (
        isinstance(default_retries, bool)
        or not isinstance(default_retries, int)
        or default_retries < 0
    ):
        raise ValueError(f"default_retries must be an int >= 0, got {default_retries!r}")
    if not isinstance(idempotency_window, timedelta) or idempotency_window <= timedelta(0):
        raise ValueError(
            f"idempotency_window must be a positive timedelta, got {idempotency_window!r}"
        )
    if isinstance(allowed_modules, str):
        raise TypeError("allowed_modules is a list of module names, not one string")
    sorted_filters = sort_filters(filters)
    clock = clock or SystemClock()
    retention = retention or Retention()
    builtin: list[StateFilter] = [
        RetryFilter(default_retries),
        ContinuationsFilter(),
        StatisticsFilter(),
    ]
    return Runtime(
        storage=storage,
        clock=clock,
        state_machine=StateMachine(storage, clock, [*builtin, *sorted_filters.state], retention),
        retention=retention,
        default_queue=validate_queue_name(default_queue),
        default_retries=default_retries,
        idempotency_window=idempotency_window,
        require_marked_jobs=require_marked_jobs,
        allowed_modules=tuple(allowed_modules) if allowed_modules is not None else None,
        creation_filters=sorted_filters.creation,
        perform_filters=sorted_filters.perform,
    )
