"""What a running job can ask about itself: its id, cancellation, progress and log lines."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stoker.core.clock import Clock
from stoker.core.errors import JobCancelledError, StokerError
from stoker.core.interrupts import shielded
from stoker.core.log_fields import log_fields
from stoker.core.protocols import Storage
from stoker.core.records import LogLine

log = logging.getLogger("stoker.job")
MAX_LOG_LINE = 4000


@dataclass
class JobContext:
    """Handed to a job through `stoker.current_job()` while it runs."""

    id: str
    function: str
    queue: str
    params: Mapping[str, Any]
    storage: Storage = field(repr=False)
    clock: Clock = field(repr=False)
    server_id: str | None = None  # the server running it, for the log lines' fields
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def cancelled(self) -> bool:
        """True once someone deleted the job (or the server is stopping and gave it back)."""
        return self._cancelled.is_set()

    @property
    def retry_count(self) -> int:
        """How many times this job was retried before this attempt."""
        return int(self.params.get("retry_count", 0))

    def raise_if_cancelled(self) -> None:
        """Stop here with JobCancelledError if the job was cancelled."""
        if self.cancelled:
            raise JobCancelledError(f"job {self.id} was cancelled")

    def progress(self, fraction: float) -> None:
        """Record how far the job is, from 0.0 to 1.0 (shown as a progress bar)."""
        if not isinstance(fraction, int | float) or not 0.0 <= fraction <= 1.0:
            raise ValueError(f"progress is a number from 0.0 to 1.0, got {fraction!r}")
        with shielded():
            self.storage.set_progress(self.id, float(fraction))

    def log(self, message: str) -> None:
        """Store a line with the job (shown on its page) and write it to the `stoker.job` log."""
        text = str(message)[:MAX_LOG_LINE]
        fields = log_fields(self.server_id, self.id, self.function, self.queue)
        log.info("job %s: %s", self.id, text, extra=fields)
        with shielded():
            self.storage.append_log(self.id, LogLine(self.now(), text))

    def now(self) -> datetime:
        return self.clock.now()

    def cancel(self) -> None:
        """Used by the server: ask the job to stop."""
        self._cancelled.set()


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "stoker_current_job", default=None
)


def current_job() -> JobContext:
    """The job running in this thread or task; StokerError outside of a job."""
    found = _current.get()
    if found is None:
        raise StokerError("current_job() is only available inside a running stoker job")
    return found


def bind(context: JobContext | None) -> contextvars.Token[JobContext | None]:
    return _current.set(context)


def unbind(token: contextvars.Token[JobContext | None]) -> None:
    _current.reset(token)
