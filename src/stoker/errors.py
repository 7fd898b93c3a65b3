"""Exceptions stoker raises to its users."""

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


class StorageURLError(ValueError, StokerError):
    """A storage URL that stoker cannot open."""


class CronError(ValueError, StokerError):
    """An invalid cron expression or time zone for a recurring job."""


class JobTimeoutError(BaseException):
    """Raised inside a job that ran longer than its timeout, and recorded as its failure.

    It derives from BaseException, as KeyboardInterrupt and asyncio.CancelledError do, so that
    a job's `except Exception:` cannot swallow it. A job that catches it anyway is interrupted
    again every second, and is recorded Failed with this error whatever it returns."""


class JobCancelledError(StokerError):
    """Raised inside a job that was deleted while it ran (cooperative cancellation)."""


class ServerCrashedError(StokerError):
    """Recorded for a job whose server died while running it."""
