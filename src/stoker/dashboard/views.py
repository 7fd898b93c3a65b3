"""What the job pages show, read through the Monitor: list rows, one page of a list, details."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stoker.core.batches import BATCH_PARAM
from stoker.core.limits import CONCURRENCY_KEY_PARAM, CONCURRENCY_PARAM
from stoker.core.protocols import Monitor
from stoker.core.records import JobRecord, LogLine, SearchResult, StateRecord
from stoker.core.states import may_still_run
from stoker.dashboard import formatting as fmt
from stoker.dashboard.params import ListQuery

# Actions each state offers: (action, button label). "requeue" of a Scheduled or Awaiting job is
# "enqueue now"; "delete" of a Processing job asks it to stop (cooperative cancellation).
STATE_ACTIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "Enqueued": (("delete", "Delete"),),
    "Scheduled": (("requeue", "Enqueue now"), ("delete", "Delete")),
    "Processing": (("delete", "Cancel (delete)"),),
    "Succeeded": (("requeue", "Requeue"), ("delete", "Delete")),
    "Failed": (("requeue", "Requeue"), ("delete", "Delete")),
    "Deleted": (("requeue", "Requeue"),),
    "Awaiting": (("requeue", "Enqueue now"), ("delete", "Delete")),
}


@dataclass(frozen=True)
class JobRow:
    """One job in a list, with what its state's columns need."""

    record: JobRecord
    summary: str
    module: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def state(self) -> StateRecord:
        return self.record.state

    @property
    def retry_count(self) -> int:
        value = self.record.params.get("retry_count", 0)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0


def state_extra(state: StateRecord) -> dict[str, Any]:
    """Columns derived from the state's data, per state."""
    data = state.data
    if state.name == "Succeeded":
        return {
            "duration": fmt.fmt_ms(data.get("duration_ms")),
            "latency": fmt.fmt_ms(data.get("latency_ms")),
            "result": fmt.result_text(data.get("result")),
        }
    if state.name == "Scheduled":
        return {"enqueue_at": fmt.parse_iso(data.get("enqueue_at"))}
    if state.name == "Processing":
        return {"server_id": data.get("server_id"), "worker_id": data.get("worker_id")}
    return {}


def failure_of(state: StateRecord) -> dict[str, str] | None:
    data = state.data
    if "exception_type" not in data:
        return None
    return {
        "type": str(data.get("exception_type", "")),
        "message": str(data.get("message", "")),
        "traceback": str(data.get("traceback", "")),
    }


def job_row(record: JobRecord) -> JobRow:
    extra = state_extra(record.state)
    failure = failure_of(record.state)
    if failure is not None:
        extra["failure"] = failure
    return JobRow(
        record=record,
        summary=fmt.call_summary(record.function, record.args, record.kwargs),
        module=fmt.module_of(record.function),
        extra=extra,
    )


@dataclass(frozen=True)
class JobPage:
    query: ListQuery
    total: int
    rows: tuple[JobRow, ...]
    related_states: Mapping[str, str] = field(default_factory=dict)  # e.g. parents' states
    search_window: int | None = None  # a search: how many newest jobs were searched for text

    @property
    def pages(self) -> int:
        return self.query.pages(self.total)


def list_page(monitor: Monitor, query: ListQuery) -> JobPage:
    """One page of a state's jobs: a count and a bounded, indexed list query (never all jobs)."""
    if query.search:
        return _search_page(monitor, query, query.search)
    total = monitor.count_jobs(query.state, queue=query.queue)
    query = query.clamped(total)
    offset, newest_first = query.offset, query.newest_first
    limit = query.size
    # Deep pages are read from the other end: OFFSET costs grow with the offset, so the last
    # page of a million jobs is asked as the first page in reverse order. Not by due time:
    # ties are by id ascending in both directions, so one order is not the other reversed.
    reverse = offset > total // 2 and total > query.size and not query.by_due
    if reverse:
        end = min(offset + query.size, total)
        limit = end - offset
        offset, newest_first = total - end, not newest_first
    records = monitor.list_jobs(
        query.state,
        queue=query.queue,
        offset=offset,
        limit=limit,
        newest_first=newest_first,
        by_due=query.by_due,
    )
    if reverse:
        records.reverse()
    return _page(monitor, query, total, records)


def _search_page(monitor: Monitor, query: ListQuery, search: str) -> JobPage:
    """A search evaluates once for its count and its page (search_jobs); past the last page,
    the last page is shown."""
    found = _search(monitor, query, search)
    clamped = query.clamped(found.total)
    if clamped.page != query.page:
        query, found = clamped, _search(monitor, clamped, search)
    return _page(monitor, query, found.total, list(found.jobs), found.window)


def _search(monitor: Monitor, query: ListQuery, search: str) -> SearchResult:
    return monitor.search_jobs(
        query.state,
        search,
        queue=query.queue,
        offset=query.offset,
        limit=query.size,
        newest_first=query.newest_first,
    )


def _page(
    monitor: Monitor,
    query: ListQuery,
    total: int,
    records: Sequence[JobRecord],
    search_window: int | None = None,
) -> JobPage:
    rows = tuple(job_row(record) for record in records)
    related: dict[str, str] = {}
    parents = [row.record.parent_id for row in rows if row.record.parent_id]
    if parents:
        related = {key: value[0] for key, value in monitor.job_states(parents).items()}
    return JobPage(
        query=query, total=total, rows=rows, related_states=related, search_window=search_window
    )


@dataclass(frozen=True)
class TimelineEntry:
    """A state in the history, newest first, with how long the job stayed in it."""

    state: StateRecord
    index: int
    stayed: str | None
    failure: dict[str, str] | None
    details: tuple[tuple[str, str], ...]


def _entry_details(state: StateRecord) -> list[tuple[str, str]]:
    data = state.data
    shown: list[tuple[str, str]] = []
    if state.name == "Succeeded":
        shown += [
            ("Result", fmt.result_text(data.get("result"), limit=2000)),
            ("Duration", fmt.fmt_ms(data.get("duration_ms"))),
            ("Latency", fmt.fmt_ms(data.get("latency_ms"))),
        ]
    elif state.name == "Scheduled":
        shown.append(("Enqueue at", fmt.fmt_time(fmt.parse_iso(data.get("enqueue_at")))))
        if "retry_attempt" in data:
            shown.append(("Attempt", f"{data.get('retry_attempt')} of {data.get('retries')}"))
    elif state.name == "Processing":
        shown += [("Server", str(data.get("server_id"))), ("Worker", str(data.get("worker_id")))]
    elif state.name == "Awaiting" and CONCURRENCY_KEY_PARAM in data:
        shown += [
            ("Concurrency key", str(data.get(CONCURRENCY_KEY_PARAM))),
            ("Limit", str(data.get(CONCURRENCY_PARAM))),
        ]
    elif state.name == "Awaiting" and BATCH_PARAM in data:
        shown += [
            ("Batch", str(data.get(BATCH_PARAM))),
            ("On", ", ".join(data.get("on_states", []))),
        ]
    elif state.name == "Awaiting":
        shown += [
            ("Parent", str(data.get("parent_id"))),
            ("On", ", ".join(data.get("on_states", []))),
        ]
    if "queue" in data and state.name in ("Enqueued", "Scheduled", "Awaiting"):
        shown.append(("Queue", str(data["queue"])))
    return shown


def timeline(history: Sequence[StateRecord]) -> list[TimelineEntry]:
    entries = []
    for index, state in enumerate(history):
        following = history[index + 1] if index + 1 < len(history) else None
        stayed = fmt.between(state.created_at, following.created_at) if following else None
        entries.append(
            TimelineEntry(
                state=state,
                index=index + 1,
                stayed=stayed,
                failure=failure_of(state),
                details=tuple(_entry_details(state)),
            )
        )
    entries.reverse()
    return entries


@dataclass(frozen=True)
class DetailsView:
    record: JobRecord
    summary: str
    args_pretty: str
    kwargs_pretty: str
    params: tuple[tuple[str, str], ...]
    timeline: tuple[TimelineEntry, ...]
    logs: tuple[LogLine, ...]
    continuations: tuple[tuple[str, str | None], ...]  # (id, state or None if gone)
    parent_state: str | None
    actions: tuple[tuple[str, str], ...]
    # Its code may still be running (see stoker.core.states.may_still_run), so a requeue could run
    # it twice at once: the confirmation says so.
    may_still_run: bool = False


def details_view(monitor: Monitor, job_id: str) -> DetailsView | None:
    found = monitor.job_details(job_id)
    if found is None:
        return None
    job = found.job
    related = [*found.continuations, *([job.parent_id] if job.parent_id else [])]
    states = monitor.job_states(related) if related else {}
    params = tuple((key, fmt.pretty_value(value)) for key, value in sorted(job.params.items()))
    return DetailsView(
        record=job,
        summary=fmt.call_summary(job.function, job.args, job.kwargs, limit=400),
        args_pretty=fmt.pretty_json(job.args),
        kwargs_pretty=fmt.pretty_json(job.kwargs),
        params=params,
        timeline=tuple(timeline(found.history)),
        logs=found.logs,
        continuations=tuple(
            (child, states[child][0] if child in states else None) for child in found.continuations
        ),
        parent_state=states[job.parent_id][0] if job.parent_id in states else None,
        actions=STATE_ACTIONS.get(job.state.name, ()),
        may_still_run=may_still_run(found.history),
    )


def job_json(record: JobRecord, now: datetime) -> dict[str, Any]:
    """A job as the JSON API returns it (stored JSON texts are decoded to JSON values)."""
    return {
        "id": record.id,
        "function": record.function,
        "args": _json_or_text(record.args),
        "kwargs": _json_or_text(record.kwargs),
        "queue": record.queue,
        "params": dict(record.params),
        "created_at": record.created_at.isoformat(),
        "state": state_json(record.state),
        "progress": record.progress,
        "parent_id": record.parent_id,
        "expire_at": record.expire_at.isoformat() if record.expire_at else None,
        "summary": fmt.call_summary(record.function, record.args, record.kwargs),
        "state_since": fmt.relative(record.state.created_at, now),
    }


def state_json(state: StateRecord) -> dict[str, Any]:
    return {
        "name": state.name,
        "created_at": state.created_at.isoformat(),
        "reason": state.reason,
        "data": dict(state.data),
    }


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
