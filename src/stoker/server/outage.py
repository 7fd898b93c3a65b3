"""Log a storage outage once when it starts and once when it ends, never once per attempt."""

from __future__ import annotations

import logging
import random
import threading
import time

from stoker.core.log_fields import log_fields

# Our own generator: jitter must not consume (or depend on) the application's seeded
# global random state.
_JITTER = random.Random()

log = logging.getLogger("stoker.server")


class OutageReporter:
    """Shared by a server's loops so a database restart produces two log lines, not thousands."""

    def __init__(self, server_id: str | None = None) -> None:
        self._fields = log_fields(server_id)
        self._lock = threading.Lock()
        self._since: float | None = None
        self._failures = 0

    def failed(self, where: str, exc: BaseException) -> None:
        with self._lock:
            self._failures += 1
            if self._since is not None:
                log.debug("storage still unavailable (%s): %s", where, exc, extra=self._fields)
                return
            self._since = time.monotonic()
        log.error(
            "storage unavailable (%s): %s: %s; retrying with back-off",
            where,
            type(exc).__name__,
            exc,
            extra=self._fields,
        )

    def succeeded(self) -> None:
        if self._since is None:  # fast path without the lock: no outage in progress
            return
        with self._lock:
            if self._since is None:
                return
            lasted = time.monotonic() - self._since
            failures, self._since, self._failures = self._failures, None, 0
        log.warning(
            "storage is back after %.1f s (%d failed attempts)",
            lasted,
            failures,
            extra=self._fields,
        )


class Backoff:
    """Exponential back-off with jitter, capped, reset after a success."""

    def __init__(self, first: float = 0.05, cap: float = 5.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay * _JITTER.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._next = self.first
