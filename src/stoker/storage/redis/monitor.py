"""Read-only queries of the Redis storage (the `Monitor` protocol): counts, pages and details."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

import redis

from stoker.core.records import JobDetails, JobRecord, RecurringRecord, ServerRecord
from stoker.core.search import SearchedPages, merge_id_match, page_of
from stoker.core.states import STATE_NAMES
from stoker.storage.common.due import check_by_due
from stoker.storage.redis.codec import (
    job_record,
    member_id,
    parse_entry,
    parse_log,
    recurring_record,
    server_record,
)
from stoker.storage.redis.due import due_ids
from stoker.storage.redis.search import id_match, job_parts, window_matches

# Listings of a queue in a state other than Enqueued (no per-queue index there) walk the
# state's index in chunks of this many jobs, so no single Redis call blocks the server for long.
SCAN_CHUNK = 500


class RedisMonitor(SearchedPages):
    """Monitor queries; every count and page reads a per-state (or per-queue) sorted set."""

    _r: redis.Redis
    _p: str

    def count_by_state(self) -> dict[str, int]:
        pipe = self._r.pipeline(transaction=False)
        for name in STATE_NAMES:
            pipe.zcard(f"{self._p}:state:{name}")
        return dict(zip(STATE_NAMES, (int(n) for n in pipe.execute()), strict=True))

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
        offset, limit = max(offset, 0), max(limit, 0)
        if by_due:
            check_by_due(state, search)
            return self._records_by_ids(
                due_ids(self._r, self._p, queue, offset, limit, newest_first)
            )
        if limit == 0:
            return []
        if search:
            return self._records_by_ids(
                page_of(self._search_ids(state, queue, search), offset, limit, newest_first)
            )
        if self._filtered(state, queue):
            ids: list[str] = []
            for job_id in self._matching_ids(state, queue, newest_first):
                ids.append(job_id)
                if len(ids) >= offset + limit:
                    break
            return self._records_by_ids(ids[offset:])
        members = self._range(self._index(state, queue), offset, offset + limit - 1, newest_first)
        return self._records_by_ids([member_id(m) for m in members])

    def count_jobs(self, state: str, *, queue: str | None = None, search: str | None = None) -> int:
        if search:
            return len(self._search_ids(state, queue, search))
        if self._filtered(state, queue):
            return sum(1 for _ in self._matching_ids(state, queue, True))
        return int(self._r.zcard(self._index(state, queue)))

    def job_details(self, job_id: str) -> JobDetails | None:
        key = f"{self._p}:job:{job_id}"
        # MULTI: one consistent snapshot of the job and its history.
        pipe = self._r.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.lrange(f"{key}:history", 0, -1)
        pipe.hgetall(f"{key}:params")
        pipe.lrange(f"{key}:logs", 0, -1)
        pipe.lrange(f"{key}:children", 0, -1)
        fields, history, params, logs, children = pipe.execute()
        if not fields or not history:
            return None
        return JobDetails(
            job=job_record(job_id, fields, history[-1], params),
            history=tuple(parse_entry(entry) for entry in history),
            logs=tuple(parse_log(line) for line in logs),
            continuations=tuple(children),
        )

    def job_states(self, job_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        pipe = self._r.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(f"{self._p}:job:{job_id}", "s", "i")
        states: dict[str, tuple[str, int]] = {}
        for job_id, (name, state_id) in zip(job_ids, pipe.execute(), strict=True):
            if name is not None:
                states[job_id] = (name, int(state_id))
        return states

    def list_servers(self) -> list[ServerRecord]:
        pipe = self._r.pipeline(transaction=True)
        pipe.hgetall(f"{self._p}:servers")
        pipe.zrange(f"{self._p}:heartbeats", 0, -1, withscores=True)
        servers, heartbeats = pipe.execute()
        beats = dict(heartbeats)
        return sorted(
            (server_record(sid, text, beats.get(sid)) for sid, text in servers.items()),
            key=lambda server: (server.started_at, server.id),
        )

    def processing_counts(self) -> dict[str, int]:
        return self._sizes(f"{self._p}:processing-servers", f"{self._p}:processing:", "scard")

    def queue_lengths(self) -> dict[str, int]:
        return self._sizes(f"{self._p}:queues", f"{self._p}:queue:", "zcard")

    def list_recurring(self) -> list[RecurringRecord]:
        ids = texts(self._r.zrange(f"{self._p}:recurring-ids", 0, -1))
        pipe = self._r.pipeline(transaction=False)
        for recurring_id in ids:
            pipe.hgetall(f"{self._p}:recurring:{recurring_id}")
        return [
            recurring_record(recurring_id, fields)
            for recurring_id, fields in zip(ids, pipe.execute(), strict=True)
            if fields
        ]

    def get_recurring(self, recurring_id: str) -> RecurringRecord | None:
        fields = cast(dict[str, str], self._r.hgetall(f"{self._p}:recurring:{recurring_id}"))
        return recurring_record(recurring_id, fields) if fields else None

    def get_counters(self, keys: Sequence[str]) -> dict[str, int]:
        if not keys:
            return {}
        values = self._r.mget([f"{self._p}:counter:{key}" for key in keys])
        return {key: int(value or 0) for key, value in zip(keys, values, strict=True)}

    # --- helpers --------------------------------------------------------------------------------
    def _search_ids(self, state: str, queue: str | None, search: str) -> list[str]:
        """See stoker.core.search: the job with this id, and text matches among the newest
        search_window jobs of the state (or of the queue, for Enqueued)."""
        check_queue = queue if state != "Enqueued" else None
        index = self._index(state, queue)
        matches = window_matches(self._r, self._p, index, check_queue, search, self.search_window)
        return merge_id_match(matches, id_match(self._r, self._p, state, queue, search))

    def _index(self, state: str, queue: str | None) -> str:
        if state == "Enqueued" and queue is not None:
            return f"{self._p}:queue:{queue}"
        return f"{self._p}:state:{state}"

    @staticmethod
    def _filtered(state: str, queue: str | None) -> bool:
        return queue is not None and state != "Enqueued"

    def _range(self, key: str, start: int, stop: int, newest_first: bool) -> list[str]:
        if newest_first:
            return texts(self._r.zrevrange(key, start, stop))
        return texts(self._r.zrange(key, start, stop))

    def _matching_ids(self, state: str, queue: str | None, newest_first: bool) -> Iterator[str]:
        """Ids of the state's jobs on `queue`, in index order, read in chunks of SCAN_CHUNK."""
        key = self._index(state, queue)
        start = 0
        while members := self._range(key, start, start + SCAN_CHUNK - 1, newest_first):
            start += SCAN_CHUNK
            pipe = self._r.pipeline(transaction=False)
            for m in members:
                pipe.hget(f"{self._p}:job:{member_id(m)}", "q")
            for m, job_queue in zip(members, pipe.execute(), strict=True):
                if job_queue is not None and job_queue == queue:
                    yield member_id(m)

    def _records_by_ids(self, ids: Sequence[str]) -> list[JobRecord]:
        records = []
        for job_id, (fields, current, params) in zip(
            ids, job_parts(self._r, self._p, ids), strict=True
        ):
            # A job removed between reading the index and reading the job is left out.
            if fields and current:
                records.append(job_record(job_id, fields, current, params))
        return records

    def _sizes(self, names_key: str, key_prefix: str, command: str) -> dict[str, int]:
        names = sorted(texts(self._r.smembers(names_key)))
        pipe = self._r.pipeline(transaction=False)
        for name in names:
            getattr(pipe, command)(key_prefix + name)
        sizes = zip(names, pipe.execute(), strict=True)
        return {name: int(size) for name, size in sizes if size}


def texts(reply: Any) -> list[str]:
    """A reply of strings (the clients decode responses) as a typed list."""
    return [str(item) for item in reply]
