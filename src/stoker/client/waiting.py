"""Waiting for a job to settle (Succeeded, Failed or Deleted): woken by the storage's notices,
or polling that backs off."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from stoker.core.errors import JobNotFoundError, JobWaitTimeoutError
from stoker.core.job_info import JobInfo
from stoker.core.protocols import Monitor, SettledNotices
from stoker.core.states import SETTLED_STATES

# Without notices, polls start fast (a short job is seen within milliseconds) and slow down to
# one every half second, so a long wait costs two cheap state reads a second, however many jobs
# wait. With the storage's notices (PostgreSQL, Redis) each notice brings a look at once, and the
# polls are only the safety net for a notice lost with its connection: every 2 s at most.
FIRST_POLL = 0.005
POLL_GROWTH = 1.5
LONGEST_POLL = 0.5
FIRST_POLL_NOTIFIED = 0.25
LONGEST_POLL_NOTIFIED = 2.0


def poll_delays(first: float = FIRST_POLL, longest: float = LONGEST_POLL) -> Iterator[float]:
    """Seconds between looks: `first`, growing by half each time, to at most `longest`."""
    delay = first
    while True:
        yield delay
        delay = min(longest, delay * POLL_GROWTH)


@contextmanager
def settled_watch(monitor: Monitor, job_id: str, wake: Callable[[], None]) -> Iterator[bool]:
    """Have `wake` called on the storage's notices about the job while the block runs; yields
    whether the storage sends any (SQLite does not: it is polled)."""
    if not isinstance(monitor, SettledNotices):
        yield False
        return
    stop = monitor.watch_settled(job_id, wake)
    try:
        yield True
    finally:
        stop()


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

    def __init__(
        self, job_id: str, timeout: float | timedelta | None, *, notified: bool = False
    ) -> None:
        check_job_id(job_id)
        self.job_id = job_id
        self.limit = timeout_seconds(timeout)
        self.deadline = None if self.limit is None else time.monotonic() + self.limit
        if notified:
            self._delays = poll_delays(FIRST_POLL_NOTIFIED, LONGEST_POLL_NOTIFIED)
        else:
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
    """The job, once it is Succeeded, Failed or Deleted; JobWaitTimeoutError after `timeout`.
    Woken by the storage's notices where it sends them, polled with back-off otherwise."""
    check_job_id(job_id)
    timeout_seconds(timeout)  # a bad timeout fails before anything is watched
    woken = threading.Event()
    with settled_watch(monitor, job_id, woken.set) as notified:
        plan = WaitPlan(job_id, timeout, notified=notified)
        while True:
            woken.clear()  # before the read: a notice sent after it ends the next pause
            state = current_state(monitor, job_id)
            if state in SETTLED_STATES:
                break
            woken.wait(plan.pause(state))
    return settled_info(monitor, job_id)


def check_job_id(job_id: object) -> None:
    if not isinstance(job_id, str):
        raise TypeError(f"job_id must be a string, got {job_id!r}")
