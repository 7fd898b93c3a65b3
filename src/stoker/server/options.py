"""Server settings, with Hangfire's defaults where we did not measure something better."""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypedDict

from stoker.core.jobs import DEFAULT_QUEUE, validate_queue_name


def default_workers() -> int:
    """Hangfire's default: five threads per core, at most twenty."""
    return min((os.cpu_count() or 1) * 5, 20)


# `async def` jobs in flight per server process. They wait on I/O on the server's event loop
# and hold no thread, so the limit is about what the services they call can take, not cores.
DEFAULT_CONCURRENCY = 100


@dataclass(frozen=True)
class ServerOptions:
    """How a server runs; every field is also a `stoker server` option.

    Intervals are seconds. `poll_interval` is only the longest an idle worker sleeps: every storage
    wakes idle workers itself when a job is enqueued (in-process signal, LISTEN/NOTIFY, blocking
    pop), so it mostly bounds how fast an idle server notices it is asked to stop.
    The schedulers poll every second (Hangfire: 15 s): the due-job query is indexed and cheap,
    and users expect a job delayed by 30 s to start at 30 s, not 44 s.
    """

    queues: Sequence[str] = (DEFAULT_QUEUE,)
    workers: int = field(default_factory=default_workers)
    concurrency: int = DEFAULT_CONCURRENCY
    name: str | None = None
    poll_interval: float = 1.0
    heartbeat_interval: float = 30.0
    server_timeout: float = 300.0
    shutdown_timeout: float = 15.0
    scheduler_interval: float = 1.0
    expiration_interval: float = 60.0
    cancellation_interval: float = 1.0
    # How often the statistics counters its workers fold in memory are written (see
    # docs/guarantees.md: a killed process loses at most this much of its counts).
    statistics_interval: float = 1.0
    max_crashes: int = 3  # a job whose server died this often while running it is Failed
    schedulers: bool = True  # run the delayed/recurring schedulers and maintenance here

    def __post_init__(self) -> None:
        if isinstance(self.queues, str):
            object.__setattr__(self, "queues", (self.queues,))
        object.__setattr__(self, "queues", tuple(self.queues))
        if not self.queues:
            raise ValueError("a server needs at least one queue")
        for queue in self.queues:
            validate_queue_name(queue)
        if (
            isinstance(self.workers, bool)
            or not isinstance(self.workers, int)
            or not 1 <= self.workers <= 1000
        ):
            raise ValueError(f"workers must be an int from 1 to 1000, got {self.workers!r}")
        if (
            isinstance(self.concurrency, bool)
            or not isinstance(self.concurrency, int)
            or not 1 <= self.concurrency <= 100_000
        ):
            raise ValueError(
                f"concurrency must be an int from 1 to 100000, got {self.concurrency!r}"
            )
        self._check_intervals()
        if (
            isinstance(self.max_crashes, bool)
            or not isinstance(self.max_crashes, int)
            or self.max_crashes < 1
        ):
            raise ValueError(f"max_crashes must be an int >= 1, got {self.max_crashes!r}")

    def _check_intervals(self) -> None:
        for name in (
            "poll_interval",
            "heartbeat_interval",
            "server_timeout",
            "shutdown_timeout",
            "scheduler_interval",
            "expiration_interval",
            "cancellation_interval",
            "statistics_interval",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)  # NaN compares false to everything: reject it here
                or value < 0
            ):
                raise ValueError(
                    f"{name} must be a number of seconds, finite and >= 0, got {value!r}"
                )
        if self.server_timeout <= self.heartbeat_interval:
            raise ValueError(
                f"server_timeout ({self.server_timeout}) must be longer than heartbeat_interval "
                f"({self.heartbeat_interval}), or live servers would be declared dead"
            )

    def server_id(self) -> str:
        base = self.name or socket.gethostname()
        return f"{base}:{os.getpid()}:{os.urandom(3).hex()}"


class ServerSettings(TypedDict, total=False):
    """ServerOptions' fields as keyword arguments: `app.server(workers=4, queues=["mail"])`
    (a test keeps the two in step)."""

    queues: Sequence[str]
    workers: int
    concurrency: int
    name: str | None
    poll_interval: float
    heartbeat_interval: float
    server_timeout: float
    shutdown_timeout: float
    scheduler_interval: float
    expiration_interval: float
    cancellation_interval: float
    statistics_interval: float
    max_crashes: int
    schedulers: bool
