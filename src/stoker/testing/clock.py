"""A controllable clock for tests: aware UTC datetimes that move only when told to."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from stoker.core.clock import ensure_aware_utc

# In the future on purpose: a storage that compares with the wall clock instead of the `now` it
# is given (or sets native expiries from absolute times) fails loudly instead of by luck.
FAKE_START = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock for tests; thread-safe because servers under test read it from many threads."""

    def __init__(self, start: datetime = FAKE_START) -> None:
        self._now = ensure_aware_utc(start, "start")
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: float | timedelta) -> datetime:
        """Move forward by `delta` (seconds or a timedelta) and return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError(f"advance() only moves forward (got {step}); use set() to go back")
        with self._lock:
            self._now += step
            return self._now

    def set(self, value: datetime) -> None:
        """Jump to `value` (aware; converted to UTC), forwards or backwards."""
        aware = ensure_aware_utc(value, "value")
        with self._lock:
            self._now = aware
