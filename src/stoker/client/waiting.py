"""Waiting for a job to settle (Succeeded, Failed or Deleted), with polling that backs off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

from stoker.core.errors import JobNotFoundError, JobWaitTimeoutError
from stoker.core.job_info import JobInfo
from stoker.core.protocols import Monitor
from stoker.core.states import SETTLED_STATES

# Polls start fast (a short job is seen within milliseconds) and slow down to one every half
# second, so a long wait costs two cheap state reads a second, however many jobs wait.
FIRST_POLL = 0.005
POLL_GROWTH = 1.5
LONGEST_POLL = 0.5


def poll_delays() -> Iterator[float]:
    """Seconds between looks: 5 ms, growing by half each time, to at most 0.5 s."""
    delay = FIRST_POLL
    while True:
        yield delay
        delay = min(LONGEST_POLL, delay * POLL_GROWTH)


def timeout_seconds(timeout: float | timedelta | None) -> float | None:
    """`timeout` in seconds (None: wait for ever); a clear error for anything else."""
    if timeout is None:
        return None
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise ValueError(f"timeout must be seconds >= 0, a timedelta or None, got {timeout!r}")
    return float(seconds)


def current_state(monitor: Monitor, job_id: str) -> str:
    """The job's state; JobNotFoundError if there is no such job (never created, or expired)."""
    found = monitor.job_states([job_id]).get(job_id)
    if found is None:
        raise JobNotFoundError(f"no job with id {job_id!r} (never created, or expired)")
    return found[0]


def settled_info(monitor: Monitor, job_id: str) -> JobInfo:
    details = monitor.job_details(job_id)
    if details is None:  # expired between the two reads
        raise JobNotFoundError(f"no job with id {job_id!r} (it expired)")
    return JobInfo.from_details(details)


class WaitPlan:
    """When to look again at a job being waited for, and when to give up."""

    def __init__(self, job_id: str, timeout: float | timedelta | None) -> None:
        check_job_id(job_id)
        self.job_id = job_id
        self.limit = timeout_seconds(timeout)
        self.deadline = None if self.limit is None else time.monotonic() + self.limit
        self._delays = poll_delays()

    def pause(self, state: str) -> float:
        """Seconds until the next look at a job still in `state`; JobWaitTimeoutError once
        the timeout has passed."""
        delay = next(self._delays)
        if self.deadline is None:
            return delay
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise JobWaitTimeoutError(f"job {self.job_id} is still {state} after {self.limit:g} s")
        return min(delay, remaining)


def wait_for_job(monitor: Monitor, job_id: str, timeout: float | timedelta | None) -> JobInfo:
    """The job, once it is Succeeded, Failed or Deleted; JobWaitTimeoutError after `timeout`."""
    plan = WaitPlan(job_id, timeout)
    while (state := current_state(monitor, job_id)) not in SETTLED_STATES:
        time.sleep(plan.pause(state))
    return settled_info(monitor, job_id)


def check_job_id(job_id: object) -> None:
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a string, got {job_id!r}")
