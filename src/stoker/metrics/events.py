"""JobMetrics: the counters and histograms of job events, fed by a state filter and an observer."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from stoker.core.records import FetchedJob, NewJob
from stoker.core.state_machine import ElectionContext
from stoker.core.states import SETTLED_STATES, RetryScheduled

# Jobs run from milliseconds to hours: the default buckets stop at 10 s.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
JOB_LABELS = ("function", "queue")


class JobMetrics:
    """Counts what happens to jobs in this process: created (by its clients and its recurring
    scheduler), started and run (by its workers), finished and retried (by every state change
    that goes through its state machine: its workers' outcomes, its requeues and deletes).

    It is a JobObserver and a StateFilter at once; `stoker.metrics.instrument` installs it.
    With `registry=None` nothing is registered (prometheus_client's multiprocess mode, where
    the values go to files that the exposing process reads)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.created = Counter(
            "stoker_jobs_created",
            "Jobs created by this process (enqueued, delayed, continuations, recurring).",
            JOB_LABELS,
            registry=registry,
        )
        self.started = Counter(
            "stoker_jobs_started",
            "Jobs this process's workers started running.",
            JOB_LABELS,
            registry=registry,
        )
        self.finished = Counter(
            "stoker_jobs_finished",
            "Jobs this process moved into Succeeded, Failed or Deleted.",
            (*JOB_LABELS, "state"),
            registry=registry,
        )
        self.retries = Counter(
            "stoker_job_retries",
            "Failed attempts this process scheduled for another attempt.",
            JOB_LABELS,
            registry=registry,
        )
        self.duration = Histogram(
            "stoker_job_duration_seconds",
            "How long this process's workers ran each job, by outcome.",
            (*JOB_LABELS, "outcome"),
            registry=registry,
            buckets=BUCKETS,
        )
        self.latency = Histogram(
            "stoker_job_latency_seconds",
            "How long each job this process started had waited in Enqueued.",
            JOB_LABELS,
            registry=registry,
            buckets=BUCKETS,
        )

    # --- JobObserver -----------------------------------------------------------------------------
    def jobs_created(self, jobs: Sequence[NewJob]) -> None:
        for job in jobs:
            self.created.labels(job.function, job.queue).inc()

    def job_started(self, job: FetchedJob, latency: float) -> None:
        self.started.labels(job.function, job.queue).inc()
        self.latency.labels(job.function, job.queue).observe(latency)

    def job_ran(self, job: FetchedJob, outcome: str, duration: float) -> None:
        self.duration.labels(job.function, job.queue, outcome).observe(duration)

    # --- StateFilter -----------------------------------------------------------------------------
    def on_election(self, context: ElectionContext) -> None:
        return None

    def on_applied(self, context: ElectionContext) -> None:
        labels = (context.function or "", context.queue or "")
        state = context.candidate
        if isinstance(state, RetryScheduled):
            self.retries.labels(*labels).inc()
        elif state.name in SETTLED_STATES:
            self.finished.labels(*labels, state.name).inc()
