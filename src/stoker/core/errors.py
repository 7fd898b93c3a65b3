"""Exceptions stoker raises to its users, one hierarchy for the core and every storage."""

from __future__ import annotations


class StokerError(Exception):
    """Base class of every error stoker raises on purpose."""


class JobDefinitionError(TypeError, StokerError):
    """The function given as a job cannot be run by a worker (lambda, closure, not importable)."""


class JobNotAllowedError(JobDefinitionError):
    """The function is outside `allowed_modules` or not marked with @stoker.job (never retried)."""


class ArgumentEncodingError(ValueError, StokerError):
    """An argument or result cannot be stored as JSON."""


class ResultEncodingError(ArgumentEncodingError):
    """A job's return value cannot be stored as JSON (the job is failed, not retried)."""


class JobNotFoundError(KeyError, StokerError):
    """No job with this id exists in the storage."""


class BatchNotFoundError(KeyError, StokerError):
    """No batch with this id exists in the storage."""


class StorageURLError(ValueError, StokerError):
    """A storage URL that stoker cannot open."""


class CronError(ValueError, StokerError):
    """An invalid cron expression or time zone for a recurring job."""


class JobTimeoutError(BaseException):
    """Raised inside a job that ran longer than its timeout, and recorded as its failure.

    It derives from BaseException, as KeyboardInterrupt and asyncio.CancelledError do, so that
    a job's `except Exception:` cannot swallow it. A job that catches it anyway is interrupted
    again every second, and is recorded Failed with this error whatever it returns."""


class JobWaitTimeoutError(TimeoutError, StokerError):
    """`wait` gave up: the job had not settled (Succeeded, Failed or Deleted) in time."""


class JobCancelledError(StokerError):
    """Raised inside a job that was deleted while it ran (cooperative cancellation)."""


class ServerCrashedError(StokerError):
    """Recorded for a job whose server died while running it."""


class StorageError(StokerError):
    """A storage could not do what was asked; the same classes on SQLite, PostgreSQL and Redis."""


class StorageBusyError(StorageError):
    """The storage stayed locked by other writers longer than its retry timeout."""


class StorageClosedError(StorageError):
    """The storage was used after `close()`."""


class SchemaTooNewError(StorageError, RuntimeError):
    """The storage was migrated by a newer stoker than this one: upgrade stoker."""


class ForeignDatabaseError(StorageError, RuntimeError):
    """The database or key space belongs to another application, not to stoker."""


# Users see these classes as `stoker.errors.<Name>` (their public home), and that name is also
# stored with every failed job's history (`exception_type`) and matched by retry options such as
# `only_on=["stoker.errors.JobTimeoutError"]`: it is data, so it must not change with the layout.
for _error in list(globals().values()):
    if isinstance(_error, type) and issubclass(_error, BaseException):
        _error.__module__ = "stoker.errors"
