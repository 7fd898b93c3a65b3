"""What `App.get_job` returns: a job's arguments, current state, whole history, result and error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stoker.core import codec
from stoker.core.records import JobDetails, StateRecord


@dataclass(frozen=True)
class HistoryEntry:
    """One state the job went through, oldest first in `JobInfo.history`."""

    name: str
    created_at: datetime
    reason: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True)
class ExceptionInfo:
    """The last exception the job raised (kept even while it waits for a retry)."""

    type: str
    message: str
    traceback: str


@dataclass(frozen=True)
class JobInfo:
    """A snapshot of one job as stored."""

    id: str
    function: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    queue: str
    params: Mapping[str, Any]
    created_at: datetime
    state: str
    history: tuple[HistoryEntry, ...]
    logs: tuple[tuple[datetime, str], ...]
    continuations: tuple[str, ...]
    parent_id: str | None
    progress: float | None
    expire_at: datetime | None

    @property
    def state_data(self) -> Mapping[str, Any]:
        return self.history[-1].data if self.history else {}

    @property
    def result(self) -> Any:
        """The return value if the job Succeeded (decoded from tagged JSON), else None."""
        if self.state != "Succeeded":
            return None
        return codec.from_json_value(self.state_data.get("result"))

    @property
    def exception(self) -> ExceptionInfo | None:
        """The most recent exception in the history, if any."""
        for entry in reversed(self.history):
            if "exception_type" in entry.data:
                return ExceptionInfo(
                    type=str(entry.data["exception_type"]),
                    message=str(entry.data.get("message", "")),
                    traceback=str(entry.data.get("traceback", "")),
                )
        return None

    @property
    def retry_count(self) -> int:
        return int(self.params.get("retry_count", 0))

    @classmethod
    def from_details(cls, details: JobDetails) -> JobInfo:
        job = details.job
        return cls(
            id=job.id,
            function=job.function,
            args=tuple(codec.loads(job.args)),
            kwargs=dict(codec.loads(job.kwargs)),
            queue=job.queue,
            params=dict(job.params),
            created_at=job.created_at,
            state=job.state.name,
            history=tuple(_entry(record) for record in details.history),
            logs=tuple((line.created_at, line.message) for line in details.logs),
            continuations=details.continuations,
            parent_id=job.parent_id,
            progress=job.progress,
            expire_at=job.expire_at,
        )


def _entry(record: StateRecord) -> HistoryEntry:
    return HistoryEntry(record.name, record.created_at, record.reason, dict(record.data))
