"""Automatic retries: a failed job is scheduled again with growing back-off, as in Hangfire."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from stoker.core import reasons
from stoker.core.jobs import DEFAULT_RETRIES
from stoker.core.state_machine import ElectionContext
from stoker.core.states import Deleted, Failed, RetryScheduled

# Our own generator: jitter must not consume (or depend on) the application's seeded
# global random state.
_JITTER = random.Random()

# Exceptions that say "running this again cannot help".
NEVER_RETRIED = frozenset(
    {
        "stoker.errors.ServerCrashedError",
        "stoker.errors.ResultEncodingError",
        "stoker.errors.JobNotAllowedError",
    }
)


def retry_delay(attempt: int, delays: Sequence[float] | None = None) -> float:
    """Seconds before attempt `attempt` (1-based): explicit delays, else Hangfire's curve."""
    if delays:
        return float(delays[min(attempt, len(delays)) - 1])
    # Hangfire's AutomaticRetry: (n-1)^4 + 15 + rand(0..29)*n seconds; 10 attempts span ~10 h.
    return float(round((attempt - 1) ** 4 + 15 + _JITTER.randrange(30) * attempt))


def _type_names(exception: BaseException) -> set[str]:
    names: set[str] = set()
    for cls in type(exception).__mro__:
        names.add(cls.__qualname__)
        names.add(f"{cls.__module__}.{cls.__qualname__}")
    return names


def _eligible(failed: Failed, exception: BaseException | None, params: Mapping[str, Any]) -> bool:
    names = _type_names(exception) if exception is not None else {failed.exception_type}
    if names & NEVER_RETRIED:
        return False
    only_on = params.get("only_on")
    if only_on and not names & set(only_on):
        return False
    except_on = params.get("except_on")
    return not (except_on and names & set(except_on))


class RetryFilter:
    """Turns Failed into Scheduled while attempts remain; then Failed (or Deleted if asked)."""

    def __init__(self, default_retries: int = DEFAULT_RETRIES) -> None:
        self.default_retries = default_retries

    def on_election(self, context: ElectionContext) -> None:
        failed = context.candidate
        if not isinstance(failed, Failed):
            return
        params = context.params
        retries = int(params.get("retries", self.default_retries))
        attempt = int(params.get("retry_count", 0)) + 1
        if not _eligible(failed, context.exception, params):
            return
        if attempt <= retries:
            delay = retry_delay(attempt, params.get("retry_delays"))
            context.param_updates["retry_count"] = attempt
            context.candidate = RetryScheduled(
                enqueue_at=context.now + timedelta(seconds=delay),
                queue=context.queue or "default",
                attempt=attempt,
                retries=retries,
                exception_type=failed.exception_type,
                message=failed.message,
                traceback=failed.traceback,
                reason=reasons.retry_attempt(
                    attempt, retries, failed.exception_type, failed.message
                ),
            )
        elif params.get("on_exhausted") == "delete":
            # Deleting on exhaustion holds with retries=0 too: the user asked for no Failed jobs.
            context.candidate = Deleted(
                reason=reasons.retries_exhausted_deleted(
                    retries, failed.exception_type, failed.message
                )
            )
        elif retries > 0:
            context.candidate = Failed(
                exception_type=failed.exception_type,
                message=failed.message,
                traceback=failed.traceback,
                reason=reasons.retries_exhausted(retries),
            )

    def on_applied(self, context: ElectionContext) -> None:
        return None
