"""Every history reason text stoker writes, in one place (storages, SQL and Lua included)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

# Reasons are shown in a job's history (dashboard, CLI, `JobInfo.history`). Storages never spell
# one themselves: Python drivers call these, SQL gets them as parameters, and the Redis Lua
# scripts get them compiled in (see storage/redis/scripts.py). The storage contract suite
# (stoker.testing.contract_history) checks each transition a storage makes against them.

MAX_FAILURE_REASON = 500  # characters of a worker's Failed reason
MAX_RETRY_REASON = 1000  # characters of the retry filter's reasons

# --- moves a storage makes in one step of its own ----------------------------------------------

# A worker's claim (Enqueued -> Processing) carries no reason: its data names the server and
# the worker (stoker.core.states.processing_state).
FETCHED: str | None = None
# The scheduler's promotion of a due job (Scheduled -> Enqueued).
SCHEDULED_TIME_REACHED = "Scheduled time reached"
# The server named by orphan_requeued() when a Processing job has none on record.
UNKNOWN_SERVER = "?"


def orphan_requeued(server_id: str) -> str:
    """The watchdog's requeue of a job whose server is gone (Processing -> Enqueued)."""
    return f"Server {server_id} stopped responding; job requeued"


def continuation_met(parent_id: str, parent_state: str) -> str:
    """A continuation released because its parent reached one of its states (-> Enqueued)."""
    return f"Parent job {parent_id} reached {parent_state}"


def continuation_not_met(parent_id: str, parent_state: str) -> str:
    """A continuation deleted because its parent ended in another final state (-> Deleted)."""
    return f"Continuation condition not met: parent job {parent_id} reached {parent_state}"


def batch_finished(batch_id: str, outcome: str) -> str:
    """A batch continuation released: every job of its batch settled (-> Enqueued)."""
    return f"Batch {batch_id} finished: {outcome}"


def batch_condition_not_met(batch_id: str, outcome: str) -> str:
    """A batch continuation deleted: the batch ended otherwise than it waits for (-> Deleted)."""
    return f"Continuation condition not met: batch {batch_id} finished {outcome}"


def pieces(render: Callable[..., str], arity: int) -> tuple[str, ...]:
    """The constant text around the `arity` values of `render`, as arity + 1 pieces: for SQL
    and Lua, which put the values between them (each value must appear once, in order)."""
    marks = [f"\0{number}\0" for number in range(arity)]
    rest = render(*marks)
    found: list[str] = []
    for mark in marks:
        head, seen, rest = rest.partition(mark)
        if not seen:
            raise ValueError(f"{render.__name__} must use each of its {arity} values once")
        found.append(head)
    return (*found, rest)


def slot_freed(key: str) -> str:
    """A job parked for a concurrency slot, enqueued once one is free (Awaiting -> Enqueued)."""
    return f"A slot of concurrency key '{key}' is free"


# --- moves made by servers ---------------------------------------------------------------------

LOST_CLAIM = "Claimed, but the reply was lost with the connection; requeued"
CRASHED_JOB_RUNS_ALONE = "Another job that crashed its server runs alone first"


def server_shut_down(server_id: str) -> str:
    """A running job given back to its queue when its server stopped."""
    return f"Server {server_id} shut down"


def waiting_for_slot(key: str, limit: int) -> str:
    """A claimed job parked because its concurrency key is at its limit (-> Awaiting)."""
    return f"Waiting for a slot of concurrency key '{key}' (limit {limit})"


def rate_limited(key: str, rate: str) -> str:
    """A claimed job put off to its turn under a rate limit (-> Scheduled)."""
    return f"Rate limit {rate} of '{key}' reached; starts at its turn"


def gave_up_after_crashes(crashes: int) -> str:
    """A poison job: Failed after its server died under it `crashes` times."""
    return f"Gave up after {crashes} server crashes"


def job_failed(exception_type: str, message: str) -> str:
    """A worker's Failed outcome: the exception's type and message."""
    return f"{exception_type}: {message}"[:MAX_FAILURE_REASON] if message else exception_type


# --- the retry filter --------------------------------------------------------------------------


def retry_attempt(attempt: int, retries: int, exception_type: str, message: str) -> str:
    """A failed job scheduled again (Failed elected as Scheduled)."""
    text = f"Retry attempt {attempt} of {retries}: {exception_type}: {message}"
    return text[:MAX_RETRY_REASON]


def retries_exhausted(retries: int) -> str:
    """Failed for good once every retry was used."""
    return f"Retries exhausted ({retries} attempts)"


def retries_exhausted_deleted(retries: int, exception_type: str, message: str) -> str:
    """Deleted for good once every retry was used (`on_exhausted="delete"`)."""
    return f"Retries exhausted ({retries}); {exception_type}: {message}"[:MAX_RETRY_REASON]


# --- clients: the API, the CLI and the dashboard -----------------------------------------------

REQUEUED = "Requeued"  # `requeue` without a reason of its own
DELETED = "Deleted"  # `delete` without a reason of its own
REQUEUED_FROM_DASHBOARD = "Requeued from the dashboard"
ENQUEUED_FROM_DASHBOARD = "Enqueued now from the dashboard"  # a Scheduled or Awaiting job
DELETED_FROM_DASHBOARD = "Deleted from the dashboard"


def deleted_with_batch(batch_id: str) -> str:
    """A batch's job deleted because the batch was (delete_batch, the dashboard, the CLI)."""
    return f"Deleted with batch {batch_id}"


def requeued_with_batch(batch_id: str) -> str:
    """A batch's Failed or Deleted job requeued with the batch."""
    return f"Requeued with batch {batch_id}"


def triggered_now(recurring_id: str) -> str:
    """The job of a recurring job triggered by hand, outside its schedule."""
    return f"Triggered now from recurring job {recurring_id}"


def recurring_occurrence(recurring_id: str, occurrence: datetime) -> str:
    """The job the scheduler created for one occurrence of a recurring job."""
    return f"Recurring job {recurring_id}, occurrence {occurrence.isoformat()}"
