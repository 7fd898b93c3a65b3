"""Job observers: what a client and a server report about jobs that state filters never see."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from stoker.core.records import FetchedJob, NewJob

log = logging.getLogger("stoker.observers")


class JobObserver(Protocol):
    """Told of the events of a job's life that happen outside `StateMachine` (creation and a
    worker's claim are one storage step each; see StateFilter), and of how long a run took.

    Every call is made in the process where the event happened, after it was stored, from the
    thread that stored it; an observer must be quick and thread-safe. What it raises is
    logged and dropped: an observer never changes what happens to a job."""

    def jobs_created(self, jobs: Sequence[NewJob]) -> None:
        """`jobs` were created (by a client, or by a server for a recurring job)."""
        ...

    def job_started(self, job: FetchedJob, latency: float) -> None:
        """A worker starts running `job`, `latency` seconds after it was enqueued."""
        ...

    def job_ran(self, job: FetchedJob, outcome: str, duration: float) -> None:
        """`job` ran for `duration` seconds and ended as `outcome` ('Succeeded' or 'Failed',
        the worker's outcome before any filter turned it into a retry)."""
        ...


def notify_created(observers: Sequence[JobObserver], jobs: Sequence[NewJob]) -> None:
    for observer in observers:
        try:
            observer.jobs_created(jobs)
        except Exception:
            log.exception("job observer %r failed on created jobs", observer)


def notify_started(observers: Sequence[JobObserver], job: FetchedJob, latency: float) -> None:
    for observer in observers:
        try:
            observer.job_started(job, latency)
        except Exception:
            log.exception("job observer %r failed on job %s started", observer, job.id)


def notify_ran(
    observers: Sequence[JobObserver], job: FetchedJob, outcome: str, duration: float
) -> None:
    for observer in observers:
        try:
            observer.job_ran(job, outcome, duration)
        except Exception:
            log.exception("job observer %r failed on job %s ran", observer, job.id)
