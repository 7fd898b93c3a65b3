"""The job functions the benchmarks enqueue; `stoker server` processes import them from here."""

from __future__ import annotations

import time


def noop() -> None:
    """Does nothing: the throughput benchmark measures stoker, not the job."""


def started_at() -> float:
    """Returns the wall-clock time it began running, for enqueue-to-start latency."""
    return time.time()
