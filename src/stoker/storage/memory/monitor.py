"""Read-only Monitor queries of the in-memory storage (dashboard, CLI, App.get_job)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from stoker.core.records import (
    JobDetails,
    JobRecord,
    RecurringRecord,
    ServerRecord,
)
from stoker.core.search import (
    SearchedPages,
    ascii_lower,
    merge_id_match,
    page_of,
    searched_id,
    text_matches,
)
from stoker.core.states import STATE_NAMES
from stoker.storage.common.due import check_by_due
from stoker.storage.memory.data import JobRow, MemoryData, loads
from stoker.storage.memory.jobs import parse_job_id

T = TypeVar("T")


def job_record(row: JobRow) -> JobRecord:
    return JobRecord(
        id=str(row.id),
        function=row.function,
        args=row.args,
        kwargs=row.kwargs,
        queue=row.queue,
        params=loads(row.params),
        created_at=row.created_at,
        state=row.state.record(),
        state_id=row.state_id,
        expire_at=row.expire_at,
        parent_id=str(row.parent_id) if row.parent_id is not None else None,
        progress=row.progress,
    )


def _page(rows: list[T], offset: int, limit: int) -> list[T]:
    return rows[max(0, offset) : max(0, offset) + max(0, limit)]


def _due_page(
    data: MemoryData, queue: str | None, offset: int, limit: int, latest: bool
) -> list[JobRow]:
    """Scheduled jobs by due time: (run_at, id) soonest first; latest first by run_at
    descending with ties still by id ascending (a stable sort keeps the index's id order)."""
    keys = [key for key in data.due if queue is None or data.jobs[key[1]].queue == queue]
    if latest:
        keys.sort(key=lambda key: key[0], reverse=True)
    return [data.jobs[job_id] for _, job_id in _page(keys, offset, limit)]


class MemoryMonitorReads(SearchedPages):
    """Monitor: each query reads under the storage's lock, so it sees one consistent state."""

    @abstractmethod
    def _reading(self) -> MemoryData:
        """The open storage's data (StorageClosedError once closed)."""

    @contextmanager
    def _read(self) -> Iterator[MemoryData]:
        data = self._reading()
        with data.cond:
            yield data

    def _query(self, read: Callable[[MemoryData], T]) -> T:
        with self._read() as data:
            return read(data)

    def count_by_state(self) -> dict[str, int]:
        counts = dict.fromkeys(STATE_NAMES, 0)
        with self._read() as data:
            for name, rows in data.by_state.items():
                counts[name] = len(rows)
        return counts

    def list_jobs(
        self,
        state: str,
        *,
        queue: str | None = None,
        search: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
        by_due: bool = False,
    ) -> list[JobRecord]:
        if by_due:
            check_by_due(state, search)
        if search:
            ids = page_of(self._search_ids(state, queue, search), offset, limit, newest_first)
            return self._records_by_ids(ids)
        with self._read() as data:
            if by_due:
                return [
                    job_record(row) for row in _due_page(data, queue, offset, limit, newest_first)
                ]
            rows = data.in_state(state, queue)
            rows.sort(key=lambda row: row.order_key, reverse=newest_first)
            return [job_record(row) for row in _page(rows, offset, limit)]

    def count_jobs(self, state: str, *, queue: str | None = None, search: str | None = None) -> int:
        if search:
            return len(self._search_ids(state, queue, search))
        with self._read() as data:
            if queue is None:
                return len(data.by_state.get(state, {}))
            return data.counts.get((state, queue), 0)

    def _search_ids(self, state: str, queue: str | None, search: str) -> list[str]:
        needle = ascii_lower(search.strip())
        number = parse_job_id(searched_id(search))
        with self._read() as data:
            rows = sorted(data.in_state(state, queue), key=lambda row: row.order_key, reverse=True)
            matches = [
                (row.order_key, str(row.id))
                for row in rows[: max(0, self.search_window)]
                if text_matches(needle, row.function, row.args, row.kwargs)
            ]
            found = data.jobs.get(number or 0)
            by_id = None
            if found is not None and found.state.name == state and queue in (None, found.queue):
                by_id = (found.order_key, str(found.id))
        return merge_id_match(matches, by_id)

    def _records_by_ids(self, ids: Sequence[str]) -> list[JobRecord]:
        with self._read() as data:
            rows = (data.jobs.get(parse_job_id(job_id) or 0) for job_id in ids)
            return [job_record(row) for row in rows if row is not None]

    def job_details(self, job_id: str) -> JobDetails | None:
        with self._read() as data:
            row = data.jobs.get(parse_job_id(job_id) or 0)
            if row is None:
                return None
            return JobDetails(
                job=job_record(row),
                history=tuple(state.record() for state in [*row.history, row.state]),
                logs=tuple(row.logs),
                continuations=tuple(str(child) for child in row.children if child in data.jobs),
            )

    def job_states(self, job_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        with self._read() as data:
            found = {job_id: data.jobs.get(parse_job_id(job_id) or 0) for job_id in job_ids}
            return {
                job_id: (row.state.name, row.state_id)
                for job_id, row in found.items()
                if row is not None
            }

    def list_servers(self) -> list[ServerRecord]:
        return self._query(lambda data: [data.servers[key] for key in sorted(data.servers)])

    def processing_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._read() as data:
            for row in data.in_state("Processing"):
                if row.server_id is not None:
                    counts[row.server_id] = counts.get(row.server_id, 0) + 1
        return counts

    def queue_lengths(self) -> dict[str, int]:
        with self._read() as data:
            return {queue: len(keys) for queue, keys in data.enqueued.items() if keys}

    def list_recurring(self) -> list[RecurringRecord]:
        return self._query(lambda data: [data.recurring[key] for key in sorted(data.recurring)])

    def get_recurring(self, recurring_id: str) -> RecurringRecord | None:
        return self._query(lambda data: data.recurring.get(recurring_id))

    def get_counters(self, keys: Sequence[str]) -> dict[str, int]:
        with self._read() as data:
            return {key: data.counters.get(key, (0, None))[0] for key in keys}
