"""Recurring jobs: define them by cron and time zone, and turn due occurrences into jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from stoker.client.plan import PreparedCall
from stoker.core import reasons
from stoker.core.cron import Schedule
from stoker.core.errors import JobDefinitionError, JobNotFoundError
from stoker.core.interrupts import shielded
from stoker.core.observers import notify_created
from stoker.core.records import RecurringRecord
from stoker.core.runtime import Runtime
from stoker.core.schedule import Misfire, next_run_for, occurrence_job

MAX_ID_LENGTH = 100
# Checks a function and its arguments and encodes them, as the client's enqueue does.
Prepare = Callable[[Callable[..., Any], Sequence[Any], Mapping[str, Any]], PreparedCall]


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

    def __init__(self, runtime: Runtime, prepare: Prepare, misfire: Misfire = "once") -> None:
        self._runtime = runtime
        self._prepare = prepare
        self._misfire = misfire

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
        call = self._prepare(func, args, kwargs)
        now = self._runtime.clock.now()
        existing = self._runtime.storage.get_recurring(recurring_id)
        paused = existing.paused if existing is not None else False
        next_run = next_run_for(existing, schedule, now)
        record = RecurringRecord(
            id=recurring_id,
            cron=schedule.expression,
            timezone=schedule.timezone,
            function=call.invocation.function,
            args=call.invocation.args,
            kwargs=call.invocation.kwargs,
            queue=call.queue,
            params={**call.params, "recurring_id": recurring_id},
            next_run=next_run,
            created_at=existing.created_at if existing is not None else now,
            misfire=self._misfire,
            paused=paused,
        )
        self._runtime.storage.save_recurring(record)
        return next_run

    @shielded()
    def trigger(self, recurring_id: str) -> str:
        """Enqueue the recurring job now, outside its schedule; returns the new job's id."""
        for _attempt in range(5):
            record = self._require(recurring_id)
            now = self._runtime.clock.now()
            reason = reasons.triggered_now(record.id)
            job = occurrence_job(record, now, reason=reason)
            if record.next_run is None:
                # Paused: there is no next run to compare-and-set against, so the job is
                # created on its own and last_run keeps the last scheduled occurrence.
                (job_id,) = self._runtime.storage.create_jobs([job])
                notify_created(self._runtime.observers, [job])
                return job_id
            # The scheduler's exactly-once step with the schedule unchanged records the job as
            # the last run; losing to a scheduler firing at this instant just means read again.
            ids = self._runtime.storage.fire_recurring(
                record.id, record.next_run, record.next_run, [job], now
            )
            if ids:
                notify_created(self._runtime.observers, [job])
                return ids[0]
        raise RuntimeError(f"could not trigger {recurring_id!r}: its schedule kept changing")

    @shielded()
    def pause(self, recurring_id: str) -> bool:
        """Stop creating jobs until resumed; False if there is no such recurring job."""
        return self._runtime.storage.set_recurring_paused(recurring_id, True, None)

    @shielded()
    def resume(self, recurring_id: str) -> bool:
        """Schedule again from now on (occurrences while paused are not run)."""
        record = self._runtime.storage.get_recurring(recurring_id)
        if record is None:
            return False
        if not record.paused:
            return True  # resuming a running schedule must not move (and skip) its next run
        next_run = Schedule(record.cron, record.timezone).next_after(self._runtime.clock.now())
        return self._runtime.storage.set_recurring_paused(recurring_id, False, next_run)

    @shielded()
    def remove(self, recurring_id: str) -> bool:
        """Delete the definition (jobs it already created are kept); False if unknown."""
        return self._runtime.storage.remove_recurring(recurring_id)

    def get(self, recurring_id: str) -> RecurringRecord | None:
        return self._runtime.storage.get_recurring(recurring_id)

    def list(self) -> list[RecurringRecord]:
        return self._runtime.storage.list_recurring()

    def _require(self, recurring_id: str) -> RecurringRecord:
        record = (
            self._runtime.storage.get_recurring(recurring_id)
            if isinstance(recurring_id, str)
            else None
        )
        if record is None:
            raise JobNotFoundError(f"no recurring job with id {recurring_id!r}")
        return record


__all__ = ["MAX_ID_LENGTH", "RecurringJobs", "validate_recurring_id"]
