"""Change a job's state: filters elect the final state, then one guarded storage transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from stoker.core.clock import Clock
from stoker.core.log_fields import log_fields
from stoker.core.protocols import Storage
from stoker.core.records import CounterIncrement, FetchedJob, StateChange
from stoker.core.states import Enqueued, Scheduled, State

log = logging.getLogger("stoker.state")


@dataclass(frozen=True)
class Retention:
    """How long jobs stay in storage after reaching a state (None: until someone acts)."""

    succeeded: timedelta | None = timedelta(days=1)
    deleted: timedelta | None = timedelta(days=1)
    failed: timedelta | None = None

    def expiry_for(self, state_name: str, now: datetime) -> datetime | None:
        keep = {"Succeeded": self.succeeded, "Deleted": self.deleted, "Failed": self.failed}
        delta = keep.get(state_name)
        return now + delta if delta is not None else None


@dataclass(frozen=True)
class FetchRequest:
    """Which job a worker wants next: the first Enqueued job of `queues` (in priority order)."""

    queues: Sequence[str]
    server_id: str
    worker_id: str


@dataclass
class ElectionContext:
    """One state change while filters look at it; filters may replace `candidate`."""

    job_id: str
    candidate: State
    now: datetime
    function: str | None = None
    queue: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # the job's params before the change
    exception: BaseException | None = None
    param_updates: dict[str, Any] = field(default_factory=dict)
    counters: list[CounterIncrement] = field(default_factory=list)
    release_continuations: bool = False


@runtime_checkable
class StateFilter(Protocol):
    """A feature that takes part in state changes (retry, continuations, statistics, ...).

    Filters see the changes that go through `StateMachine`: a worker's outcome of a job
    (Succeeded, Failed, which the retry filter may turn into Scheduled or Deleted, and the
    poison-job Failed), a job given back to its queue (graceful shutdown, a lost claim, a job
    waiting for a crashed one to run alone), and the client's `requeue` and `delete` (also
    from the dashboard and the CLI). They do not see what the storage does in one step of its
    own: creating jobs (enqueue, continuations, recurring occurrences), claims (Enqueued to
    Processing), the scheduler's promotion of due jobs (Scheduled to Enqueued), the
    watchdog's requeue of a dead server's jobs, the release of continuations (Awaiting to
    Enqueued or Deleted) and expiration.
    """

    def on_election(self, context: ElectionContext) -> None:
        """Inspect or replace `context.candidate`; add param updates or counters."""
        ...

    def on_applied(self, context: ElectionContext) -> None:
        """Called after the change was stored (not called when the compare-and-set lost)."""
        ...


class StateMachine:
    """Changes a job's state for workers and clients: filters elect, the storage applies.

    It is not the only way a job changes state: the storages also move jobs by themselves, each
    in one atomic step (see StateFilter for which changes those are, and which filters never
    see). Those steps write the states and reasons defined here in the core
    (`stoker.core.states`, `stoker.core.reasons`), and the storage contract suite
    (`stoker.testing.contract_history`) checks their exact history on every storage."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        filters: Sequence[StateFilter],
        retention: Retention,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.filters = tuple(filters)
        self.retention = retention

    def change(
        self,
        job_id: str,
        state: State,
        *,
        expected_states: Sequence[str] = (),
        expected_state_id: int | None = None,
        function: str | None = None,
        queue: str | None = None,
        params: Mapping[str, Any] | None = None,
        exception: BaseException | None = None,
        param_updates: Mapping[str, Any] | None = None,
        release_slot: str | None = None,
    ) -> bool:
        """Elect and apply; False when the job was not in an expected state (nothing written).
        With `release_slot`, the storage gives back the job's concurrency slot of that key in
        the same step (see StateChange.release_slot)."""
        context = self._elect(job_id, state, function, queue, params, exception, param_updates)
        change = self._to_change(context, expected_states, expected_state_id, release_slot)
        return self._applied(context, self.storage.change_state(change))

    def finish_and_fetch(
        self,
        job_id: str,
        state: State,
        *,
        expected_state_id: int,
        function: str,
        queue: str,
        params: Mapping[str, Any],
        exception: BaseException | None,
        fetch: FetchRequest,
        release_slot: str | None = None,
    ) -> tuple[bool, FetchedJob | None]:
        """A worker's `change` of its Processing job, and the claim of its next job, in one
        storage call (`Storage.finish_and_fetch`). Returns (applied, next job or None)."""
        context = self._elect(job_id, state, function, queue, params, exception, None)
        change = self._to_change(context, ("Processing",), expected_state_id, release_slot)
        applied, fetched = self.storage.finish_and_fetch(
            change, fetch.queues, fetch.server_id, fetch.worker_id, context.now
        )
        return self._applied(context, applied), fetched

    def _elect(
        self,
        job_id: str,
        state: State,
        function: str | None,
        queue: str | None,
        params: Mapping[str, Any] | None,
        exception: BaseException | None,
        param_updates: Mapping[str, Any] | None,
    ) -> ElectionContext:
        context = ElectionContext(
            job_id=job_id,
            candidate=state,
            now=self.clock.now(),
            function=function,
            queue=queue,
            params=params or {},
            exception=exception,
            param_updates=dict(param_updates or {}),
        )
        for state_filter in self.filters:
            state_filter.on_election(context)
        return context

    def _applied(self, context: ElectionContext, applied: bool) -> bool:
        if applied:
            for state_filter in self.filters:
                try:
                    state_filter.on_applied(context)
                except Exception:  # a reporting filter must never undo a stored change
                    log.exception(
                        "state filter %r failed after job %s changed",
                        state_filter,
                        context.job_id,
                        extra=log_fields(None, context.job_id, context.function, context.queue),
                    )
        return applied

    def _to_change(
        self,
        context: ElectionContext,
        expected_states: Sequence[str],
        expected_state_id: int | None,
        release_slot: str | None = None,
    ) -> StateChange:
        final = context.candidate
        queue = None
        run_at = None
        if isinstance(final, Enqueued):
            queue = final.queue
        elif isinstance(final, Scheduled):
            queue, run_at = final.queue, final.enqueue_at
        return StateChange(
            job_id=context.job_id,
            state=final.to_record(context.now),
            expected_states=tuple(expected_states),
            expected_state_id=expected_state_id,
            queue=queue,
            run_at=run_at,
            expire_at=self.retention.expiry_for(final.name, context.now),
            params=context.param_updates,
            counters=tuple(context.counters),
            release_continuations=context.release_continuations,
            deleted_children_expire_at=self.retention.expiry_for("Deleted", context.now),
            release_slot=release_slot,
        )
