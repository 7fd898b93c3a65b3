"""A server's periodic duties: heartbeat, schedulers, watchdog, expiration and job supervision."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from stoker.core.errors import JobCancelledError
from stoker.core.log_fields import log_fields
from stoker.core.observers import notify_created
from stoker.core.schedule import plan_occurrences
from stoker.server.outage import Backoff
from stoker.server.runner import job_log_fields

if TYPE_CHECKING:
    from stoker.server.context import ServerContext

log = logging.getLogger("stoker.server")
BATCH = 1000


class Periodic(threading.Thread):
    """Runs `action` every `interval` seconds until the server stops; survives storage outages."""

    def __init__(
        self, server: ServerContext, name: str, interval: float, action: Callable[[], None]
    ) -> None:
        super().__init__(name=f"stoker-{name}", daemon=True)
        self.server = server
        self.interval = interval
        self.action = action
        self.what = name

    def run(self) -> None:
        backoff = Backoff(first=0.2, cap=10.0)
        stop = self.server.stopping
        while not stop.is_set():
            try:
                self.action()
                self.server.outage.succeeded()
                backoff.reset()
                delay = self.interval
            except Exception as exc:
                self.server.outage.failed(self.what, exc)
                delay = (
                    min(self.interval, backoff.next_delay())
                    if self.interval
                    else backoff.next_delay()
                )
            stop.wait(delay)


def heartbeat(server: ServerContext) -> None:
    if not server.storage.heartbeat(server.id, server.clock.now()):
        # Another server presumed us dead (e.g. after a long pause) and requeued our jobs;
        # register again so our remaining work is not requeued twice.
        log.warning(
            "server %s was presumed dead; announcing it again",
            server.id,
            extra=log_fields(server.id),
        )
        server.announce()


def write_statistics(server: ServerContext) -> None:
    """Write the statistics the workers folded since the last time, in one storage call.

    If the write fails, the counts are put back and go with the next one: a write whose reply
    was lost may so count them twice, a killed process loses what it held (docs/guarantees.md).
    """
    increments = server.counters.drain()
    if not increments:
        return
    try:
        server.storage.add_counters(increments)
    except BaseException:
        server.counters.add(increments)
        raise


def enqueue_due_scheduled(server: ServerContext) -> None:
    while server.storage.enqueue_due_scheduled(server.clock.now(), BATCH) == BATCH:
        if server.stopping.is_set():
            return


def promote_waiting(server: ServerContext) -> None:
    """Enqueue jobs waiting for a concurrency slot that is free. A worker releases a job's
    slot as soon as the job is done, which enqueues the next waiter at once; this catches what
    a release missed (its process died, or the storage was unreachable at that moment)."""
    server.storage.promote_waiting(server.clock.now(), BATCH)


def finish_batches(server: ServerContext) -> None:
    """Finish the batches whose jobs all settled, releasing their continuations. The storage
    finishes each batch once however many servers look (a compare-and-set), from its counts:
    a look costs the same for a batch of ten jobs or of a hundred thousand."""
    while len(server.storage.finish_batches(server.clock.now(), 100)) == 100:
        if server.stopping.is_set():
            return


def fire_due_recurring(server: ServerContext) -> None:
    """Create the jobs of every due recurring job. Safe on all servers at once: fire_recurring
    is a compare-and-set on next_run, so exactly one server wins each occurrence."""
    storage = server.storage
    now = server.clock.now()
    for record in storage.due_recurring(now, 100):
        if record.next_run is None:
            continue
        try:
            jobs, next_run = plan_occurrences(record, now)
        except Exception as exc:  # e.g. a definition stored by a newer version we cannot read
            storage.record_recurring_error(record.id, f"{type(exc).__name__}: {exc}")
            continue
        created = storage.fire_recurring(record.id, record.next_run, next_run, jobs, now)
        if created:
            notify_created(server.runtime.observers, jobs[: len(created)])
            log.info(
                "recurring job %s created job(s) %s",
                record.id,
                ", ".join(created),
                extra=log_fields(server.id),
            )
        if record.error and created is not None:
            storage.record_recurring_error(record.id, None)


def expire(server: ServerContext) -> None:
    """Delete expired jobs in batches; one server at a time does it (a lock, not a guarantee)."""
    storage = server.storage
    ttl = max(60.0, server.options.expiration_interval * 2)
    if not storage.acquire_lock("stoker:expiration", server.id, ttl, server.clock.now()):
        return
    try:
        while storage.delete_expired(server.clock.now(), BATCH) == BATCH:
            if server.stopping.is_set():
                return
    finally:
        storage.release_lock("stoker:expiration", server.id)


class Supervisor(threading.Thread):
    """Enforces timeouts and notices cancelled jobs (deleted or requeued while running)."""

    def __init__(self, server: ServerContext) -> None:
        super().__init__(name="stoker-supervisor", daemon=True)
        self.server = server
        self._last_check = 0.0

    def run(self) -> None:
        while not self.server.killed.wait(0.1):
            self._enforce_timeouts()
            if time.monotonic() - self._last_check >= self.server.options.cancellation_interval:
                self._last_check = time.monotonic()
                try:
                    self._notice_cancellations()
                except Exception as exc:
                    self.server.outage.failed("checking for cancelled jobs", exc)

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for running in self.server.running_jobs():
            if running.enforce_deadline(now):
                log.info(
                    "job %s ran past its timeout; interrupting it",
                    running.context.id,
                    extra=job_log_fields(self.server.id, running),
                )

    def _notice_cancellations(self) -> None:
        running_jobs = self.server.running_jobs()
        if not running_jobs:
            return
        # A list, not a dict by job id: one job may be tracked twice for a moment (an async
        # job still being stored while the same job, requeued, was fetched again).
        states = self.server.storage.job_states([running.context.id for running in running_jobs])
        for running in running_jobs:
            job_id = running.context.id
            current = states.get(job_id)
            if current is None or current != ("Processing", running.state_id):
                if not running.context.cancelled:
                    log.info(
                        "job %s was cancelled (now %s)",
                        job_id,
                        current[0] if current else "gone",
                        extra=job_log_fields(self.server.id, running),
                    )
                running.context.cancel()
                if running.future is not None:  # async jobs are cancelled for real
                    running.interrupt(JobCancelledError)
