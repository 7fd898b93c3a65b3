"""MemoryStorage: every record in this process's memory, for tests and demos.

URLs:

    memory://           private data: a storage of its own, gone when it is closed
    memory://<name>     data shared by every storage opened with this name in THIS process
                        (a client, an embedded server and a dashboard see the same jobs), and
                        forgotten when the last of them is closed

Nothing is written anywhere: a `stoker server` or `stoker dashboard` started as another
process cannot see these jobs, and everything is lost when the process ends. The storage takes
no options.

How it works: one lock guards all the records of a name, and each call is one critical section,
so a call is atomic and isolated as one transaction of the other storages is (compare-and-set
state changes fenced by state ids, exactly-once recurring firing, keyed creates). Job ids are
the text of an increasing integer, never reused; params and state data are kept as JSON text,
so they come back as JSON values as from any other storage. `wait_for_jobs` sleeps on the
lock's condition, which an enqueue wakes; `watch_settled` (SettledNotices) is told of every job
that reaches Succeeded, Failed or Deleted. A batch's members are counted per state by the one
step that moves a job (MemoryData.move), so a batch finishes from its counts. Every time is
the `now` the caller passes. Built for tests: a page of a state sorts that state's jobs, and
expiry scans every job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from stoker.core.errors import StorageClosedError
from stoker.core.records import (
    Claim,
    CounterIncrement,
    FetchedJob,
    LogLine,
    NewJob,
    RecurringRecord,
    ServerRecord,
    StateChange,
    keyed_job,
)
from stoker.storage.memory import jobs, registry, upkeep
from stoker.storage.memory.batches import MemoryBatches
from stoker.storage.memory.data import Effects, MemoryData, utc, utc_or_none
from stoker.storage.memory.jobs import parse_job_id
from stoker.storage.memory.limits import MemoryLimits, give_back_slot
from stoker.storage.memory.monitor import MemoryMonitorReads

__all__ = ["MemoryStorage"]


class MemoryStorage(MemoryLimits, MemoryMonitorReads, MemoryBatches):
    """Storage in this process's memory; see the module docstring for URLs and semantics."""

    def __init__(self, name: str = "") -> None:
        self._data: MemoryData | None = registry.acquire(registry.check_name(name))
        self.name = name
        self._closed_message = (
            f"the memory storage memory://{name} is closed"
            if name
            else "the private memory storage memory:// is closed"
        )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryStorage:
        """`memory://` (private) or `memory://<name>` (shared in this process); no options."""
        return cls(registry.parse_memory_url(url, options))

    def _reading(self) -> MemoryData:
        data = self._data
        if data is None:
            raise StorageClosedError(self._closed_message)
        return data

    @contextmanager
    def _write(self) -> Iterator[tuple[MemoryData, Effects]]:
        data = self._reading()
        with data.write() as effects:
            yield data, effects

    # --- jobs -----------------------------------------------------------------------------------
    def create_jobs(self, new_jobs: Sequence[NewJob]) -> list[str]:
        with self._write() as (data, effects):
            if not new_jobs:
                return []
            keyed = keyed_job(new_jobs)
            if keyed is not None:
                return jobs.insert_keyed(data, keyed, effects)
            return jobs.insert_jobs(data, new_jobs, effects)

    def fetch_next(
        self, queues: Sequence[str], server_id: str, worker_id: str, now: datetime
    ) -> FetchedJob | None:
        with self._write() as (data, effects):
            return jobs.claim_next(data, queues, server_id, worker_id, utc(now), effects)

    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        data = self._reading()
        names = tuple(queues)
        deadline = time.monotonic() + max(0.0, timeout)
        with data.cond:
            # The look and the sleep are one step under the lock, and every enqueue notifies
            # under it: an enqueue can never fall between them unnoticed.
            while not data.has_work(names) and self._data is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                data.cond.wait(remaining)

    def change_state(self, change: StateChange) -> bool:
        with self._write() as (data, effects):
            give_back_slot(data, change, effects)
            return jobs.apply_change(data, change, effects)

    def finish_and_fetch(
        self,
        change: StateChange,
        queues: Sequence[str],
        server_id: str,
        worker_id: str,
        now: datetime,
    ) -> tuple[bool, FetchedJob | None]:
        with self._write() as (data, effects):
            give_back_slot(data, change, effects)
            applied = jobs.apply_change(data, change, effects)
            return applied, jobs.claim_next(data, queues, server_id, worker_id, utc(now), effects)

    def set_progress(self, job_id: str, progress: float) -> None:
        with self._write() as (data, _):
            row = data.jobs.get(parse_job_id(job_id) or 0)
            if row is not None:
                row.progress = float(progress)

    def append_log(self, job_id: str, line: LogLine) -> None:
        with self._write() as (data, _):
            row = data.jobs.get(parse_job_id(job_id) or 0)
            if row is not None:
                row.logs.append(LogLine(utc(line.created_at), line.message))

    def add_counters(self, increments: Sequence[CounterIncrement]) -> None:
        with self._write() as (data, _):
            jobs.add_counters(data, increments)

    def enqueue_due_scheduled(self, now: datetime, limit: int) -> int:
        with self._write() as (data, effects):
            return upkeep.enqueue_due(data, utc(now), limit, effects)

    def delete_expired(self, now: datetime, limit: int) -> int:
        with self._write() as (data, _):
            return upkeep.delete_expired(data, utc(now), limit)

    def requeue_orphaned_jobs(self, now: datetime, limit: int) -> list[str]:
        with self._write() as (data, effects):
            return upkeep.requeue_orphans(data, utc(now), limit, effects)

    def claimed_jobs(self, server_id: str, worker_id: str) -> list[Claim]:
        with self._read() as data:
            rows = sorted(data.in_state("Processing"), key=lambda row: row.id)
            return [
                Claim(str(row.id), row.queue, row.state_id)
                for row in rows
                if row.server_id == server_id and row.worker_id == worker_id
            ]

    def watch_settled(self, job_id: str, wake: Callable[[], None]) -> Callable[[], None]:
        """`wake` whenever job `job_id` reaches Succeeded, Failed or Deleted (SettledNotices)."""
        return self._reading().watchers.add(job_id, wake)

    # --- recurring jobs -----------------------------------------------------------------------
    def save_recurring(self, record: RecurringRecord) -> None:
        record = _utc_recurring(record)
        with self._write() as (data, _):
            known = data.recurring.get(record.id)
            if known is not None:  # an update keeps the bookkeeping of earlier runs
                record = replace(
                    record,
                    created_at=known.created_at,
                    last_run=known.last_run,
                    last_job_id=known.last_job_id,
                )
            data.recurring[record.id] = record

    def remove_recurring(self, recurring_id: str) -> bool:
        with self._write() as (data, _):
            return data.recurring.pop(recurring_id, None) is not None

    def set_recurring_paused(
        self, recurring_id: str, paused: bool, next_run: datetime | None
    ) -> bool:
        return self._update_recurring(
            recurring_id, paused=bool(paused), next_run=utc_or_none(next_run)
        )

    def due_recurring(self, now: datetime, limit: int) -> list[RecurringRecord]:
        with self._read() as data:
            due = [
                record
                for record in data.recurring.values()
                if not record.paused and record.next_run is not None and record.next_run <= now
            ]
        due.sort(key=lambda record: (record.next_run, record.id))
        return due[: max(0, limit)]

    def fire_recurring(
        self,
        recurring_id: str,
        expected_next_run: datetime,
        next_run: datetime | None,
        new_jobs: Sequence[NewJob],
        now: datetime,
    ) -> list[str] | None:
        with self._write() as (data, effects):
            # The compare-and-set on next_run makes a cron occurrence fire once, whichever
            # server's scheduler gets here first.
            record = data.recurring.get(recurring_id)
            if record is None or record.paused or record.next_run != expected_next_run:
                return None
            record = replace(record, next_run=utc_or_none(next_run))
            ids = jobs.insert_jobs(data, new_jobs, effects) if new_jobs else []
            if ids:
                record = replace(record, last_run=utc(now), last_job_id=ids[-1])
            data.recurring[recurring_id] = record
            return ids

    def record_recurring_error(self, recurring_id: str, error: str | None) -> None:
        self._update_recurring(recurring_id, error=error)

    def _update_recurring(self, recurring_id: str, **fields: Any) -> bool:
        with self._write() as (data, _):
            record = data.recurring.get(recurring_id)
            if record is None:
                return False
            data.recurring[recurring_id] = replace(record, **fields)
            return True

    # --- servers --------------------------------------------------------------------------------
    def announce_server(self, server: ServerRecord) -> None:
        record = replace(
            server,
            queues=tuple(server.queues),
            started_at=utc(server.started_at),
            heartbeat_at=utc(server.heartbeat_at),
        )
        with self._write() as (data, _):
            data.servers[record.id] = record

    def heartbeat(self, server_id: str, now: datetime) -> bool:
        with self._write() as (data, _):
            server = data.servers.get(server_id)
            if server is None:
                return False
            data.servers[server_id] = replace(server, heartbeat_at=utc(now))
            return True

    def remove_server(self, server_id: str) -> None:
        with self._write() as (data, _):
            data.servers.pop(server_id, None)

    def remove_dead_servers(self, heartbeat_before: datetime) -> list[str]:
        with self._write() as (data, _):
            dead = sorted(
                server.id
                for server in data.servers.values()
                if server.heartbeat_at < heartbeat_before
            )
            for server_id in dead:
                del data.servers[server_id]
            return dead

    # --- locks --------------------------------------------------------------------------------
    def acquire_lock(self, name: str, owner: str, ttl: float, now: datetime) -> bool:
        with self._write() as (data, _):
            held = data.locks.get(name)
            if held is not None and held[0] != owner and held[1] > now:
                return False
            data.locks[name] = (owner, utc(now) + timedelta(seconds=ttl))
            return True

    def release_lock(self, name: str, owner: str) -> None:
        with self._write() as (data, _):
            if data.locks.get(name, ("", None))[0] == owner:
                del data.locks[name]

    def close(self) -> None:
        """Forget this storage's data if it was the last one open on it; closing again is
        harmless. A `wait_for_jobs` in progress returns."""
        data, self._data = self._data, None
        if data is None:
            return
        registry.release(data)
        with data.cond:
            data.cond.notify_all()

    def __repr__(self) -> str:
        return f"MemoryStorage(memory://{self.name})"


def _utc_recurring(record: RecurringRecord) -> RecurringRecord:
    return replace(
        record,
        params=dict(record.params),
        next_run=utc_or_none(record.next_run),
        created_at=utc(record.created_at),
        last_run=utc_or_none(record.last_run),
    )
