"""stoker: background jobs for Python with the whole life of every job kept and shown.

Fire-and-forget, delayed, recurring and continuation jobs on SQLite (embedded, the default),
PostgreSQL or Redis, run by `stoker server` or an embedded server, followed in a dashboard.
"""

from __future__ import annotations

from stoker.app import App
from stoker.clock import Clock, SystemClock
from stoker.context import JobContext, current_job
from stoker.errors import (
    ArgumentEncodingError,
    CronError,
    JobCancelledError,
    JobDefinitionError,
    JobNotAllowedError,
    JobNotFoundError,
    JobTimeoutError,
    ResultEncodingError,
    ServerCrashedError,
    StokerError,
    StorageURLError,
)
from stoker.job_info import ExceptionInfo, HistoryEntry, JobInfo
from stoker.jobs import job
from stoker.state_machine import ElectionContext, Retention, StateFilter
from stoker.storage import open_storage

__version__ = "0.1.0"

__all__ = [
    "App",
    "ArgumentEncodingError",
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
