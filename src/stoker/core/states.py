"""The seven job states as frozen values, and how each one is stored as a StateRecord."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from stoker.core import reasons
from stoker.core.records import StateRecord

# States after which a job never runs again on its own. Failed is not final: people requeue it.
FINAL_STATES: frozenset[str] = frozenset({"Succeeded", "Deleted"})
# The states a job stays in until someone acts: the final ones, and Failed (retries used up or
# none asked for; only a requeue or a delete moves it). `wait` returns when a job reaches one.
SETTLED_STATES: frozenset[str] = FINAL_STATES | {"Failed"}
# The states of a job that has not ended yet: a unique key stays taken while its job is in one.
UNFINISHED_STATES: frozenset[str] = frozenset({"Enqueued", "Scheduled", "Processing", "Awaiting"})
STATE_NAMES: tuple[str, ...] = (
    "Enqueued",
    "Scheduled",
    "Processing",
    "Succeeded",
    "Failed",
    "Deleted",
    "Awaiting",
)

# Stored `data` of each state (JSON objects; datetimes as ISO 8601 strings in UTC):
#   Enqueued   {"queue": str}
#   Scheduled  {"enqueue_at": iso, "queue": str}
#   Processing {"server_id": str, "worker_id": str}
#   Succeeded  {"result": tagged JSON value, "latency_ms": float, "duration_ms": float}
#   Failed     {"exception_type": str, "message": str, "traceback": str}
#   Deleted    {}
#   Awaiting   {"parent_id": str, "on_states": [str, ...], "queue": str}


@dataclass(frozen=True)
class State:
    """Base of every state; `reason` says why the job moved here (shown in history)."""

    name: ClassVar[str] = ""
    reason: str | None = field(default=None, kw_only=True)

    @property
    def is_final(self) -> bool:
        return self.name in FINAL_STATES

    def data(self) -> dict[str, Any]:
        return {}

    def to_record(self, created_at: datetime) -> StateRecord:
        return StateRecord(self.name, created_at, self.reason, self.data())


@dataclass(frozen=True)
class Enqueued(State):
    name: ClassVar[str] = "Enqueued"
    queue: str = "default"

    def data(self) -> dict[str, Any]:
        return {"queue": self.queue}


@dataclass(frozen=True)
class Scheduled(State):
    name: ClassVar[str] = "Scheduled"
    enqueue_at: datetime
    queue: str = "default"

    def data(self) -> dict[str, Any]:
        return {"enqueue_at": self.enqueue_at.isoformat(), "queue": self.queue}


@dataclass(frozen=True)
class Processing(State):
    name: ClassVar[str] = "Processing"
    server_id: str
    worker_id: str

    def data(self) -> dict[str, Any]:
        return {"server_id": self.server_id, "worker_id": self.worker_id}


def processing_state(server_id: str, worker_id: str) -> Processing:
    """A worker's claim: the Processing state every storage writes when it hands out a job."""
    return Processing(server_id=server_id, worker_id=worker_id, reason=reasons.FETCHED)


@dataclass(frozen=True)
class Succeeded(State):
    name: ClassVar[str] = "Succeeded"
    result: Any = None  # already tagged-JSON-compatible (see stoker.core.codec.to_json_value)
    latency_ms: float = 0.0
    duration_ms: float = 0.0

    def data(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "latency_ms": self.latency_ms,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class Failed(State):
    name: ClassVar[str] = "Failed"
    exception_type: str
    message: str
    traceback: str = ""

    def data(self) -> dict[str, Any]:
        return {
            "exception_type": self.exception_type,
            "message": self.message,
            "traceback": self.traceback,
        }


@dataclass(frozen=True)
class Deleted(State):
    name: ClassVar[str] = "Deleted"


@dataclass(frozen=True)
class Awaiting(State):
    name: ClassVar[str] = "Awaiting"
    parent_id: str
    on_states: tuple[str, ...] = ("Succeeded",)
    queue: str = "default"

    def data(self) -> dict[str, Any]:
        return {"parent_id": self.parent_id, "on_states": list(self.on_states), "queue": self.queue}


STATE_CLASSES: Mapping[str, type[State]] = {
    cls.name: cls for cls in (Enqueued, Scheduled, Processing, Succeeded, Failed, Deleted, Awaiting)
}


@dataclass(frozen=True)
class RetryScheduled(Scheduled):
    """Scheduled for another attempt after a failure; history keeps the failure's details."""

    attempt: int = 1
    retries: int = 0
    exception_type: str = ""
    message: str = ""
    traceback: str = ""

    def data(self) -> dict[str, Any]:
        return {
            **super().data(),
            "retry_attempt": self.attempt,
            "retries": self.retries,
            "exception_type": self.exception_type,
            "message": self.message,
            "traceback": self.traceback,
        }


def continuation_state(
    parent_id: str, parent_state: str, on_states: Sequence[str], queue: str
) -> State | None:
    """What an Awaiting job becomes once its parent is in `parent_state`: Enqueued if that is
    one of its `on_states`, Deleted if the parent is final otherwise, None while it waits on."""
    if parent_state in on_states:
        return Enqueued(queue=queue, reason=reasons.continuation_met(parent_id, parent_state))
    if parent_state in FINAL_STATES:
        return Deleted(reason=reasons.continuation_not_met(parent_id, parent_state))
    return None


def may_still_run(history: Sequence[StateRecord]) -> bool:
    """Whether the job's code may still be running somewhere: it is Processing, or it was
    deleted straight out of Processing (a sync job is only asked to stop; code that never
    checks `cancelled` runs on). Requeueing such a job can run it twice at the same time."""
    names = [entry.name for entry in history[-2:]]
    return bool(names) and (names[-1] == "Processing" or names == ["Processing", "Deleted"])
