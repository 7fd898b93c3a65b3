"""A worker's limits gate: admit a claimed job under its concurrency and rate limits, and give
its concurrency slot back once its outcome is stored."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from stoker.core import reasons
from stoker.core.errors import JobDefinitionError
from stoker.core.limits import JobLimits
from stoker.core.records import Admission, FetchedJob, Gate
from stoker.core.states import Scheduled, State
from stoker.server.outage import Backoff

if TYPE_CHECKING:
    from stoker.server.context import ServerContext

log = logging.getLogger("stoker.worker")


# Errors no retry can mend: the job's limits themselves are wrong (params written by hand, a
# period whose arithmetic overflows). The worker fails the job with them.
PERMANENT = (JobDefinitionError, ValueError, TypeError, OverflowError)


def admit_claimed(
    server: ServerContext,
    fetched: FetchedJob,
    limits: JobLimits,
    defer: Callable[[FetchedJob, State, str | None], None],
) -> bool:
    """True if the claimed job may run now. Otherwise the storage parked it in Awaiting until
    a slot of its key is free, or `defer` has moved it to Scheduled for the start it reserved
    under its rate limit (giving back the slot of `limits.concurrency_key` the job held if it
    was enqueued for a freed slot), or the claim was gone (deleted or requeued meanwhile).
    Raises one of PERMANENT if the storage refused the limits themselves."""
    admission = _admit(server, fetched, limits)
    if admission is None or admission.admitted:
        return admission is not None
    if admission.run_at is not None and limits.rate is not None:
        reason = reasons.rate_limited(limits.rate_key or fetched.function, limits.rate.text)
        state = Scheduled(enqueue_at=admission.run_at, queue=fetched.queue, reason=reason)
        defer(fetched, state, limits.concurrency_key)
        log.debug("job %s starts at %s under its rate limit", fetched.id, admission.run_at)
    else:
        log.debug("job %s waits for a slot of %s", fetched.id, limits.concurrency_key)
    return False


def _gate(server: ServerContext, fetched: FetchedJob, limits: JobLimits) -> Gate:
    now = server.clock.now()
    rate = limits.rate
    return Gate(
        job_id=fetched.id,
        state_id=fetched.state_id,
        now=now,
        concurrency_key=limits.concurrency_key,
        concurrency=limits.concurrency,
        rate_key=limits.rate_key,
        rate_count=rate.count if rate is not None else 0,
        rate_period=rate.period if rate is not None else 0.0,
        waiting=limits.waiting_record(fetched.queue, now) if limits.concurrency_key else None,
    )


def _admit(server: ServerContext, fetched: FetchedJob, limits: JobLimits) -> Admission | None:
    """The storage's decision, asked again through outages (with the time of each attempt:
    a start is recorded when it happens); None if the server is killed first (the job stays
    claimed by a dead server: the watchdog requeues it)."""
    backoff = Backoff()
    while True:
        try:
            admission = server.storage.admit(_gate(server, fetched, limits))
            server.outage.succeeded()
            return admission
        except PERMANENT:
            raise
        except Exception as exc:
            server.outage.failed(f"checking the limits of job {fetched.id}", exc)
            if server.killed.wait(backoff.next_delay()):
                return None
