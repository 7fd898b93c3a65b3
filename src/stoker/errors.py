"""The public home of stoker's exceptions (defined in stoker.core.errors)."""

from __future__ import annotations

from stoker.core.errors import (
    ArgumentEncodingError,
    BatchNotFoundError,
    CronError,
    ForeignDatabaseError,
    JobCancelledError,
    JobDefinitionError,
    JobNotAllowedError,
    JobNotFoundError,
    JobTimeoutError,
    JobWaitTimeoutError,
    ResultEncodingError,
    SchemaTooNewError,
    ServerCrashedError,
    StokerError,
    StorageBusyError,
    StorageClosedError,
    StorageError,
    StorageURLError,
)

__all__ = [
    "ArgumentEncodingError",
    "BatchNotFoundError",
    "CronError",
    "ForeignDatabaseError",
    "JobCancelledError",
    "JobDefinitionError",
    "JobNotAllowedError",
    "JobNotFoundError",
    "JobTimeoutError",
    "JobWaitTimeoutError",
    "ResultEncodingError",
    "SchemaTooNewError",
    "ServerCrashedError",
    "StokerError",
    "StorageBusyError",
    "StorageClosedError",
    "StorageError",
    "StorageURLError",
]
