"""How the Redis storage writes records as strings and script arguments, and reads them back."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from stoker.core.clock import ensure_aware_utc
from stoker.core.records import (
    CounterIncrement,
    JobRecord,
    LogLine,
    NewJob,
    RecurringRecord,
    ServerRecord,
    StateChange,
    StateRecord,
    same_but_arguments,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_us(value: datetime) -> str:
    """Microseconds since the epoch, as text: exact, and usable as a sorted-set score."""
    return str((ensure_aware_utc(value) - _EPOCH) // _MICROSECOND)


def opt_us(value: datetime | None) -> str:
    return "" if value is None else to_us(value)


def from_us(text: str | int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(text))


def opt_from_us(text: str | None) -> datetime | None:
    return None if text is None or text == "" else from_us(text)


def member(job_id: str) -> str:
    """A job's member in index sorted sets: length-prefixed, so equal scores sort as numbers."""
    return chr(64 + len(job_id)) + job_id


def member_id(value: str) -> str:
    return value[1:]


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def framed(names: Sequence[str]) -> str:
    """State names as a comma-framed list (",A,B,") that Lua can search for ",A,"."""
    return "," + ",".join(names) + "," if names else ""


def state_entry(state: StateRecord) -> str:
    """The history entry of a state, as JSON text."""
    data = dict(state.data)
    return dumps({"n": state.name, "t": to_us(state.created_at), "r": state.reason, "d": data})


def parse_entry(text: str) -> StateRecord:
    raw = json.loads(text)
    data = raw.get("d") or {}
    return StateRecord(raw["n"], from_us(raw["t"]), raw.get("r"), data)


def log_entry(line: LogLine) -> str:
    return dumps({"t": to_us(line.created_at), "m": line.message})


def parse_log(text: str) -> LogLine:
    raw = json.loads(text)
    return LogLine(from_us(raw["t"]), raw["m"])


def param_args(params: Mapping[str, Any]) -> list[str]:
    """Parameters as name, JSON value pairs: each one its own hash field, merged in Lua."""
    flat: list[str] = []
    for name, value in params.items():
        flat += [name, dumps(value)]
    return flat


def parse_params(raw: Mapping[str, str]) -> dict[str, Any]:
    return {name: json.loads(value) for name, value in raw.items()}


# Stands for "the previous job's fields" in new_job_args (a function path never starts so).
SAME_AS_PREVIOUS = "\0="


def new_job_args(jobs: Sequence[NewJob]) -> list[str]:
    """The job list as create.lua's parse_jobs reads it."""
    args = [str(len(jobs))]
    # Jobs of one bulk enqueue share their state record and params mapping: encode a shared
    # object once, and send a job that differs from the previous one only in its arguments
    # as three strings (compared by identity and equality with the previous job's: cheap).
    previous: NewJob | None = None
    state_args: list[str] = []
    param_flat: list[str] = []
    for job in jobs:
        if previous is not None and same_but_arguments(job, previous):
            args += [SAME_AS_PREVIOUS, job.args, job.kwargs]
            continue
        if previous is None or job.state is not previous.state:
            state = job.state
            state_args = [state.name, to_us(state.created_at), state_entry(state)]
        if previous is None or job.params is not previous.params:
            param_flat = [str(len(job.params)), *param_args(job.params)]
        run_at = to_us(job.run_at) if job.run_at is not None else state_args[1]
        args += [job.function, job.args, job.kwargs, job.queue, *state_args]
        args += [to_us(job.created_at), run_at, job.parent_id or "", framed(job.on_states)]
        args.append(opt_us(job.deleted_expire_at))
        args += param_flat
        previous = job
    return args


def change_args(change: StateChange, token: str) -> list[str]:
    """The arguments of change_state.lua after the prefix."""
    state = change.state
    server = str(state.data.get("server_id", "")) if state.name == "Processing" else ""
    expected_sid = "" if change.expected_state_id is None else str(change.expected_state_id)
    args = [change.job_id, state.name, to_us(state.created_at), state_entry(state)]
    args += [framed(change.expected_states), expected_sid, change.queue or ""]
    args += [opt_us(_run_at(change)), opt_us(change.expire_at), server, token]
    args += ["1" if change.release_continuations else "0"]
    args += [opt_us(change.deleted_children_expire_at), change.release_slot or ""]
    args += [str(len(change.params)), str(len(change.counters))]
    args += param_args(change.params)
    for counter in change.counters:
        args += counter_args(counter)
    return args


def _run_at(change: StateChange) -> datetime | None:
    """When a Scheduled job runs: `run_at`, else the `enqueue_at` its state data names."""
    enqueue_at = change.state.data.get("enqueue_at")
    if change.run_at is None and change.state.name == "Scheduled" and enqueue_at:
        return datetime.fromisoformat(str(enqueue_at))
    return change.run_at


def counter_args(counter: CounterIncrement) -> list[str]:
    return [counter.key, str(counter.by), opt_us(counter.expire_at)]


def job_record(
    job_id: str, fields: Mapping[str, str], current: str, params: Mapping[str, str]
) -> JobRecord:
    """A JobRecord from the job hash, its last history entry and its parameter hash."""
    progress = fields.get("g")
    return JobRecord(
        id=job_id,
        function=fields["f"],
        args=fields["a"],
        kwargs=fields["k"],
        queue=fields["q"],
        params=parse_params(params),
        created_at=from_us(fields["c"]),
        state=parse_entry(current),
        state_id=int(fields["i"]),
        expire_at=opt_from_us(fields.get("x")),
        parent_id=fields.get("p"),
        progress=float(progress) if progress else None,
    )


def server_fields(server: ServerRecord) -> str:
    """A server's registration (its heartbeat lives in the heartbeats sorted set)."""
    return dumps(
        {
            "hostname": server.hostname,
            "pid": server.pid,
            "workers": server.workers,
            "queues": list(server.queues),
            "started_at": to_us(server.started_at),
        }
    )


def server_record(server_id: str, text: str, heartbeat: float | None) -> ServerRecord:
    raw = json.loads(text)
    started = from_us(raw["started_at"])
    return ServerRecord(
        id=server_id,
        hostname=raw["hostname"],
        pid=raw["pid"],
        workers=raw["workers"],
        queues=tuple(raw["queues"]),
        started_at=started,
        heartbeat_at=from_us(int(heartbeat)) if heartbeat is not None else started,
    )


def recurring_fields(record: RecurringRecord) -> list[str]:
    """A recurring job as field/value pairs; absent optional values are left out."""
    fields = {
        "cron": record.cron,
        "timezone": record.timezone,
        "function": record.function,
        "args": record.args,
        "kwargs": record.kwargs,
        "queue": record.queue,
        "params": dumps(dict(record.params)),
        "created_at": to_us(record.created_at),
        "misfire": record.misfire,
        "paused": "1" if record.paused else "0",
        "next_run": opt_us(record.next_run),
        "last_run": opt_us(record.last_run),
        "last_job_id": record.last_job_id or "",
        "error": record.error or "",
    }
    flat: list[str] = []
    for name, value in fields.items():
        if value != "":
            flat += [name, value]
    return flat


def recurring_record(recurring_id: str, fields: Mapping[str, str]) -> RecurringRecord:
    return RecurringRecord(
        id=recurring_id,
        cron=fields["cron"],
        timezone=fields["timezone"],
        function=fields["function"],
        args=fields["args"],
        kwargs=fields["kwargs"],
        queue=fields["queue"],
        params=json.loads(fields["params"]),
        next_run=opt_from_us(fields.get("next_run")),
        created_at=from_us(fields["created_at"]),
        misfire=fields.get("misfire", "once"),
        paused=fields.get("paused") == "1",
        last_run=opt_from_us(fields.get("last_run")),
        last_job_id=fields.get("last_job_id"),
        error=fields.get("error"),
    )
