"""Batches: jobs created together, counted by state, and continued once all of them settled."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from stoker.core import reasons
from stoker.core.errors import JobDefinitionError
from stoker.core.records import StateRecord
from stoker.core.states import SETTLED_STATES, Deleted, Enqueued

# A member job's params name its batch (the dashboard shows it); a continuation's Awaiting
# state data names the batch it waits for.
BATCH_PARAM = "batch_id"
MAX_DESCRIPTION = 500
# What a batch continuation waits for: the batch's outcome, by default any of them.
ANY_OUTCOME = ("Succeeded", "Failed", "Deleted")
ONLY_SUCCEEDED = ("Succeeded",)


@dataclass(frozen=True)
class NewBatch:
    """A batch to create with its jobs (Storage.create_batch)."""

    id: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class BatchRecord:
    """A batch as stored: its jobs counted per state, and its outcome once they all settled."""

    id: str
    description: str
    created_at: datetime
    total: int
    counts: Mapping[str, int] = field(default_factory=dict)  # state name -> member jobs
    finished_at: datetime | None = None
    outcome: str | None = None  # Succeeded, Failed or Deleted, once finished
    continuations: tuple[str, ...] = ()  # ids of the jobs that continue the batch

    @property
    def settled(self) -> int:
        """Members that are Succeeded, Failed or Deleted."""
        return settled_count(self.counts)

    @property
    def state(self) -> str:
        """Started while a job may still run, else what the jobs' states make (batch_outcome).
        It follows the jobs (a requeued job starts the batch again); `outcome` keeps what
        the batch's continuations saw when it finished."""
        if self.settled < self.total:
            return "Started"
        return batch_outcome(self.counts, self.total)


def batch_outcome(counts: Mapping[str, int], total: int) -> str:
    """A finished batch's outcome: Succeeded if every job did (an empty batch too), else
    Failed if any job failed, else Deleted."""
    if counts.get("Succeeded", 0) == total:
        return "Succeeded"
    return "Failed" if counts.get("Failed", 0) else "Deleted"


def settled_count(counts: Mapping[str, int]) -> int:
    """How many of a batch's jobs, counted per state, are Succeeded, Failed or Deleted."""
    return sum(counts.get(name, 0) for name in SETTLED_STATES)


def is_finished(counts: Mapping[str, int], total: int) -> bool:
    return settled_count(counts) >= total


def continuation_record(
    batch_id: str, outcome: str, on_states: tuple[str, ...], queue: str, now: datetime
) -> tuple[StateRecord, bool]:
    """The state a continuation of a finished batch moves to (Enqueued if the batch's outcome
    is one it waits for, else Deleted), and whether it is Deleted."""
    if outcome in on_states:
        state = Enqueued(queue=queue, reason=reasons.batch_finished(batch_id, outcome))
        return state.to_record(now), False
    deleted = Deleted(reason=reasons.batch_condition_not_met(batch_id, outcome))
    return deleted.to_record(now), True


def awaiting_batch_record(
    batch_id: str, on_states: tuple[str, ...], queue: str, now: datetime
) -> StateRecord:
    """The Awaiting state of a job that continues a batch."""
    data = {BATCH_PARAM: batch_id, "on_states": list(on_states), "queue": queue}
    return StateRecord("Awaiting", now, None, data)


def validate_description(description: object) -> str:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise JobDefinitionError(
            f"a batch description is text of at most {MAX_DESCRIPTION} characters, "
            f"got {description!r}"
        )
    return description
