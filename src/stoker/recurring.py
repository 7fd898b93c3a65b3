"""Recurring jobs: define them by cron and time zone, and turn due occurrences into jobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stoker.cron import Schedule, misfire_grace
from stoker.errors import JobDefinitionError, JobNotFoundError
from stoker.interrupts import shielded
from stoker.states import Enqueued
from stoker.storage.base import NewJob, RecurringRecord

if TYPE_CHECKING:
    from stoker.client import Client

MAX_ID_LENGTH = 100
MAX_CATCH_UP = 100  # misfire="all": at most this many missed occurrences are run


def validate_recurring_id(recurring_id: str) -> str:
    if (
        not isinstance(recurring_id, str)
        or not recurring_id.strip()
        or len(recurring_id) > MAX_ID_LENGTH
        or not recurring_id.isprintable()
    ):
        raise JobDefinitionError(
            f"a recurring job id is a printable string of 1 to {MAX_ID_LENGTH} chars, "
            f"got {recurring_id!r}"
        )
    return recurring_id


class RecurringJobs:
    """`app.recurring`: add, update, trigger, pause, resume and remove recurring jobs."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._app = client._app

    @shielded()
    def add_or_update(
        self,
        recurring_id: str,
        cron: str,
        func: Callable[..., Any],
        /,
        *args: Any,
        tz: str = "UTC",
        **kwargs: Any,
    ) -> datetime | None:
        """Define (or redefine) a recurring job; returns its next run. Bad cron, time zone,
        function or arguments raise now and store nothing. A paused job stays paused."""
        validate_recurring_id(recurring_id)
        schedule = Schedule.parse(cron, tz)
        invocation, options = self._client._prepare(func, args, kwargs)
        now = self._app.clock.now()
        existing = self._app.storage.get_recurring(recurring_id)
        paused = existing.paused if existing is not None else False
        next_run = _next_run(existing, schedule, now)
        record = RecurringRecord(
            id=recurring_id,
            cron=schedule.expression,
            timezone=schedule.timezone,
            function=invocation.function,
            args=invocation.args,
            kwargs=invocation.kwargs,
            queue=options.queue or self._app.default_queue,
            params={**self._client._params(options), "recurring_id": recurring_id},
            next_run=next_run,
            created_at=existing.created_at if existing is not None else now,
            misfire=self._client._options.misfire,
            paused=paused,
        )
        self._app.storage.save_recurring(record)
        return next_run

    @shielded()
    def trigger(self, recurring_id: str) -> str:
        """Enqueue the recurring job now, outside its schedule; returns the new job's id."""
        for _attempt in range(5):
            record = self._require(recurring_id)
            now = self._app.clock.now()
            reason = f"Triggered now from recurring job {record.id}"
            job = occurrence_job(record, now, reason=reason)
            if record.next_run is None:
                # Paused: there is no next run to compare-and-set against, so the job is
                # created on its own and last_run keeps the last scheduled occurrence.
                return self._app.storage.create_jobs([job])[0]
            # The scheduler's exactly-once step with the schedule unchanged records the job as
            # the last run; losing to a scheduler firing at this instant just means read again.
            ids = self._app.storage.fire_recurring(
                record.id, record.next_run, record.next_run, [job], now
            )
            if ids:
                return ids[0]
        raise RuntimeError(f"could not trigger {recurring_id!r}: its schedule kept changing")

    @shielded()
    def pause(self, recurring_id: str) -> bool:
        """Stop creating jobs until resumed; False if there is no such recurring job."""
        return self._app.storage.set_recurring_paused(recurring_id, True, None)

    @shielded()
    def resume(self, recurring_id: str) -> bool:
        """Schedule again from now on (occurrences while paused are not run)."""
        record = self._app.storage.get_recurring(recurring_id)
        if record is None:
            return False
        if not record.paused:
            return True  # resuming a running schedule must not move (and skip) its next run
        next_run = Schedule(record.cron, record.timezone).next_after(self._app.clock.now())
        return self._app.storage.set_recurring_paused(recurring_id, False, next_run)

    @shielded()
    def remove(self, recurring_id: str) -> bool:
        """Delete the definition (jobs it already created are kept); False if unknown."""
        return self._app.storage.remove_recurring(recurring_id)

    def get(self, recurring_id: str) -> RecurringRecord | None:
        return self._app.storage.get_recurring(recurring_id)

    def list(self) -> list[RecurringRecord]:
        return self._app.storage.list_recurring()

    def _require(self, recurring_id: str) -> RecurringRecord:
        record = (
            self._app.storage.get_recurring(recurring_id) if isinstance(recurring_id, str) else None
        )
        if record is None:
            raise JobNotFoundError(f"no recurring job with id {recurring_id!r}")
        return record


def _next_run(
    existing: RecurringRecord | None, schedule: Schedule, now: datetime
) -> datetime | None:
    if existing is not None and existing.paused:
        return None
    if (
        existing is not None
        and existing.next_run is not None
        and (existing.cron, existing.timezone) == (schedule.expression, schedule.timezone)
    ):
        # Every deploy re-adds its recurring jobs; keeping the stored next run means an
        # occurrence that fell due while the servers restarted is still run, not skipped.
        return existing.next_run
    return schedule.next_after(now)


def occurrence_job(record: RecurringRecord, now: datetime, reason: str) -> NewJob:
    return NewJob(
        function=record.function,
        args=record.args,
        kwargs=record.kwargs,
        queue=record.queue,
        state=Enqueued(queue=record.queue, reason=reason).to_record(now),
        created_at=now,
        params={**record.params, "recurring_id": record.id},
    )


def plan_occurrences(
    record: RecurringRecord, now: datetime
) -> tuple[list[NewJob], datetime | None]:
    """Jobs to create for a due recurring job under its misfire policy, and its next run.

    'once' runs one job however many occurrences were missed; 'all' runs one per missed
    occurrence (at most MAX_CATCH_UP); 'skip' runs only an occurrence that is not older than
    the grace period (so a scheduler that was down does not run stale work).
    """
    schedule = Schedule(record.cron, record.timezone)
    due = record.next_run or now
    occurrences = [due]
    if record.misfire == "all":
        occurrences = schedule.missed_between(due, now, MAX_CATCH_UP)
    elif record.misfire == "once":
        occurrences = schedule.missed_between(due, now, 1)
    elif record.misfire == "skip":
        latest = schedule.missed_between(due, now, 1)
        occurrences = [at for at in latest if now - at <= misfire_grace()]
    jobs = [
        occurrence_job(
            record, now, reason=f"Recurring job {record.id}, occurrence {at.isoformat()}"
        )
        for at in occurrences
    ]
    return jobs, schedule.next_after(now)


__all__ = ["RecurringJobs", "occurrence_job", "plan_occurrences"]
