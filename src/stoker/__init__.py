"""stoker: background jobs for Python with the whole life of every job kept and shown.

Fire-and-forget, delayed, recurring and continuation jobs on SQLite (embedded, the default),
PostgreSQL or Redis, run by `stoker server` or an embedded server, followed in a dashboard.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stoker.core.version import __version__

if TYPE_CHECKING:
    from stoker.app import App
    from stoker.async_app import AsyncApp
    from stoker.client.batches import Batch
    from stoker.core.batches import BatchRecord
    from stoker.core.clock import Clock, SystemClock
    from stoker.core.context import JobContext, current_job
    from stoker.core.errors import (
        ArgumentEncodingError,
        BatchNotFoundError,
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
    from stoker.storage import open_storage

# Each name is imported from its module on first use (PEP 562), so that `import stoker` and
# whatever only needs a part of it (the supervisor of `stoker server --processes N`, a CLI
# command) load only that part: `import stoker` costs a process 2 MiB over the interpreter,
# and everything behind `stoker.App` about 7 MiB more.
_EXPORTS: dict[str, str] = {
    "App": "stoker.app",
    "AsyncApp": "stoker.async_app",
    "Clock": "stoker.core.clock",
    "SystemClock": "stoker.core.clock",
    "Batch": "stoker.client.batches",
    "BatchRecord": "stoker.core.batches",
    "JobContext": "stoker.core.context",
    "current_job": "stoker.core.context",
    "ArgumentEncodingError": "stoker.core.errors",
    "CronError": "stoker.core.errors",
    "JobCancelledError": "stoker.core.errors",
    "JobDefinitionError": "stoker.core.errors",
    "JobNotAllowedError": "stoker.core.errors",
    "BatchNotFoundError": "stoker.core.errors",
    "JobNotFoundError": "stoker.core.errors",
    "JobTimeoutError": "stoker.core.errors",
    "JobWaitTimeoutError": "stoker.core.errors",
    "ResultEncodingError": "stoker.core.errors",
    "ServerCrashedError": "stoker.core.errors",
    "StokerError": "stoker.core.errors",
    "StorageURLError": "stoker.core.errors",
    "ExceptionInfo": "stoker.core.job_info",
    "HistoryEntry": "stoker.core.job_info",
    "JobInfo": "stoker.core.job_info",
    "job": "stoker.core.jobs",
    "ElectionContext": "stoker.core.state_machine",
    "Retention": "stoker.core.state_machine",
    "StateFilter": "stoker.core.state_machine",
    "open_storage": "stoker.storage",
}

__all__ = [
    "App",
    "ArgumentEncodingError",
    "AsyncApp",
    "Batch",
    "BatchNotFoundError",
    "BatchRecord",
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
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stoker' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
