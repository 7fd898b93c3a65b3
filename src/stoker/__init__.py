"""stoker: background jobs for Python with the whole life of every job kept and shown.

Fire-and-forget, delayed, recurring and continuation jobs on SQLite (embedded, the default),
PostgreSQL or Redis, run by `stoker server` or an embedded server, followed in a dashboard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stoker.app import App
from stoker.core.clock import Clock, SystemClock
from stoker.core.context import JobContext, current_job
from stoker.core.errors import (
    ArgumentEncodingError,
    CronError,
    JobCancelledError,
    JobDefinitionError,
    JobNotAllowedError,
    JobNotFoundError,
    JobTimeoutError,
    JobWaitTimeoutError,
    ResultEncodingError,
    ServerCrashedError,
    StokerError,
    StorageURLError,
)
from stoker.core.job_info import ExceptionInfo, HistoryEntry, JobInfo
from stoker.core.jobs import job
from stoker.core.state_machine import ElectionContext, Retention, StateFilter
from stoker.core.version import __version__
from stoker.storage import open_storage

if TYPE_CHECKING:
    from stoker.async_app import AsyncApp

__all__ = [
    "App",
    "ArgumentEncodingError",
    "AsyncApp",
    "Clock",
    "CronError",
    "ElectionContext",
    "ExceptionInfo",
    "HistoryEntry",
    "JobCancelledError",
    "JobContext",
    "JobDefinitionError",
    "JobInfo",
    "JobNotAllowedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "JobWaitTimeoutError",
    "ResultEncodingError",
    "Retention",
    "ServerCrashedError",
    "StateFilter",
    "StokerError",
    "StorageURLError",
    "SystemClock",
    "__version__",
    "current_job",
    "job",
    "open_storage",
]


def __getattr__(name: str) -> Any:
    # AsyncApp is imported on first use: it brings asyncio, which a server of plain `def` jobs
    # (or a web process that never uses AsyncApp) need not load.
    if name == "AsyncApp":
        from stoker.async_app import AsyncApp

        return AsyncApp
    raise AttributeError(f"module 'stoker' has no attribute {name!r}")
