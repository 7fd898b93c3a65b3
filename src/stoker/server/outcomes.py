"""The states a worker records when a job ends: Succeeded, Failed, and Failed after crashes."""

from __future__ import annotations

import traceback
from typing import Any

from stoker.core import codec, reasons
from stoker.core.errors import ArgumentEncodingError, ResultEncodingError
from stoker.core.records import FetchedJob
from stoker.core.states import Failed, State, Succeeded

MAX_TRACEBACK = 20_000


def succeeded_state(
    fetched: FetchedJob, result: Any, latency_ms: float, duration_ms: float
) -> tuple[State, BaseException | None]:
    """Succeeded with the job's result, or Failed if the result cannot be stored as JSON."""
    try:
        encoded = codec.to_json_value(result, f"the result of {fetched.function}")
    except ArgumentEncodingError as exc:
        error = ResultEncodingError(str(exc))
        return failed_state(error), error
    return Succeeded(encoded, round(latency_ms, 3), round(duration_ms, 3)), None


def failed_state(exc: BaseException) -> Failed:
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    text = "".join(traceback.format_exception(exc))
    return Failed(
        exception_type=name,
        message=str(exc)[:4000],
        traceback=text[-MAX_TRACEBACK:],
        reason=reasons.job_failed(name, str(exc)),
    )


def crashed_state(crashes: int) -> Failed:
    message = (
        f"the server running this job died {crashes} times (killed, out of memory, or the job "
        "crashed its process); it is not run again automatically. Requeue it to try again."
    )
    return Failed(
        exception_type="stoker.errors.ServerCrashedError",
        message=message,
        reason=reasons.gave_up_after_crashes(crashes),
    )
