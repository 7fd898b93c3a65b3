"""CounterBuffer: statistics counters a server process folds in memory and writes in bulk."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from stoker.core.records import CounterIncrement


class CounterBuffer:
    """Increments added by many threads, merged per counter key until they are drained.

    A server's workers add the statistics of every job they finish here instead of writing
    them in the job's own transaction, and a background thread writes the merged total every
    second or so (`Storage.add_counters`): one small write instead of one per job. A process
    that dies loses what it had not written yet; job states and history are never buffered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[int, datetime | None]] = {}

    def add(self, increments: Iterable[CounterIncrement]) -> None:
        with self._lock:
            for increment in increments:
                by, expire_at = self._pending.get(increment.key, (0, None))
                self._pending[increment.key] = (
                    by + increment.by,
                    _later(expire_at, increment.expire_at),
                )

    def drain(self) -> list[CounterIncrement]:
        """Everything added since the last drain, one increment per key; the buffer empties."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return [
            CounterIncrement(key, by, expire_at) for key, (by, expire_at) in pending.items() if by
        ]


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)
