"""SettledWatchers: who waits for which job to settle, for the storages that send notices."""

from __future__ import annotations

import threading
from collections.abc import Callable

Wake = Callable[[], None]


class SettledWatchers:
    """The wake functions registered per job id (see `SettledNotices.watch_settled`).

    A storage's listening thread calls `wake(job_id)` for each notice it receives and
    `wake_all()` whenever notices may have been missed (its connection came back). Wake
    functions run outside the lock: one may stop its own watch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakes: dict[str, list[Wake]] = {}

    def add(self, job_id: str, wake: Wake) -> Callable[[], None]:
        """Register `wake` for `job_id`; returns the function that removes it again."""
        with self._lock:
            self._wakes.setdefault(job_id, []).append(wake)

        def stop() -> None:
            with self._lock:
                wakes = self._wakes.get(job_id, [])
                if wake in wakes:
                    wakes.remove(wake)
                if not wakes:
                    self._wakes.pop(job_id, None)

        return stop

    def wake(self, job_id: str) -> None:
        with self._lock:
            wakes = list(self._wakes.get(job_id, ()))
        for wake in wakes:
            wake()

    def wake_all(self) -> None:
        with self._lock:
            wakes = [wake for each in self._wakes.values() for wake in each]
        for wake in wakes:
            wake()
