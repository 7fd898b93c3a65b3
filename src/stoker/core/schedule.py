"""Recurring schedules: the next run of a definition, and the jobs a due occurrence creates."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from stoker.core import reasons
from stoker.core.cron import Schedule, misfire_grace
from stoker.core.records import NewJob, RecurringRecord
from stoker.core.states import Enqueued

# What a recurring job does with occurrences missed while no scheduler ran (see plan_occurrences).
Misfire = Literal["once", "all", "skip"]
MISFIRE_POLICIES: tuple[Misfire, ...] = ("once", "all", "skip")
MAX_CATCH_UP = 100  # misfire="all": at most this many missed occurrences are run


def next_run_for(
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
        occurrence_job(record, now, reason=reasons.recurring_occurrence(record.id, at))
        for at in occurrences
    ]
    return jobs, schedule.next_after(now)


__all__ = [
    "MAX_CATCH_UP",
    "MISFIRE_POLICIES",
    "Misfire",
    "next_run_for",
    "occurrence_job",
    "plan_occurrences",
]
