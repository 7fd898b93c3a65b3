"""Django's database connections around each job, as around each request: a worker thread
drops a connection that is unusable or older than CONN_MAX_AGE before and after every job."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import close_old_connections

from stoker.core.context import JobContext


def _on_event_loop() -> bool:
    """Whether this thread runs an event loop (an `async def` job's task): Django refuses
    connection handling there, and such jobs reach the ORM through sync_to_async threads."""
    asyncio = sys.modules.get("asyncio")  # never imported for a server of `def` jobs
    return asyncio is not None and asyncio._get_running_loop() is not None


class DjangoConnections:
    """A perform filter (see stoker.core.job_filters): without it a job server's worker
    threads would keep their connections forever, since no request ever ends on them. With
    CONN_MAX_AGE = 0 (Django's default) every job starts and ends without a connection."""

    @contextmanager
    def performing(self, job: JobContext) -> Iterator[None]:
        if _on_event_loop():
            yield
            return
        close_old_connections()
        try:
            yield
        finally:
            close_old_connections()
