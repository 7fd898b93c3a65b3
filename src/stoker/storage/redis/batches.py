"""Batches on Redis: created with their jobs, counted by enter(), finished from their counts.

Each write is one Lua script (lua/batch_fn.lua has the shared parts; the keys are listed in
storage.py's docstring). The reads take one MULTI snapshot of a batch's hash, counts and
continuations, never its jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis
from redis.commands.core import Script

from stoker.core.batches import BatchRecord, NewBatch
from stoker.core.errors import BatchNotFoundError, JobNotFoundError
from stoker.core.records import JobRecord, NewJob
from stoker.core.states import STATE_NAMES
from stoker.storage.redis.codec import from_us, new_job_args, opt_from_us, to_us
from stoker.storage.redis.monitor import texts
from stoker.storage.redis.scripts import Scripts

# create_batch.lua's role letters: a member, a continuation of the batch, or neither.
MEMBER, CONTINUATION, OTHER = "m", "w", "-"


def roles(batch_id: str, jobs: Sequence[NewJob]) -> str:
    """One role letter per job, as create_batch.lua reads them."""
    return "".join(
        MEMBER
        if job.batch_id == batch_id
        else CONTINUATION
        if job.awaits_batch == batch_id
        else OTHER
        for job in jobs
    )


class RedisBatches:
    """Storage.create_batch, continue_batch and finish_batches, and the batch reads."""

    _r: redis.Redis
    _p: str
    _s: Scripts

    if TYPE_CHECKING:  # RedisStorage's and RedisMonitor's

        def _run(self, script: Script, *args: str) -> Any: ...

        def _token(self) -> str: ...

        def _create_slot(self) -> str: ...

        def _records_by_ids(self, ids: Sequence[str]) -> list[JobRecord]: ...

    def create_batch(self, batch: NewBatch, jobs: Sequence[NewJob]) -> list[str]:
        head = [batch.id, batch.description, to_us(batch.created_at), roles(batch.id, jobs)]
        reply = self._run(
            self._s.create_batch, self._create_slot(), self._token(), *head, *new_job_args(jobs)
        )
        if reply[0] == "used":
            raise ValueError(f"batch {batch.id} already exists")
        return _ids(reply)

    def continue_batch(self, job: NewJob) -> str:
        batch_id = str(job.awaits_batch)
        args = [self._create_slot(), self._token(), batch_id, *new_job_args([job])]
        reply = self._run(self._s.continue_batch, *args)
        if reply[0] == "unknown":
            raise BatchNotFoundError(batch_id)
        return _ids(reply)[0]

    def finish_batches(self, now: datetime, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return texts(self._run(self._s.finish_batches, to_us(now), str(limit)))

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        return self._batches([batch_id])[0]

    def list_batches(self, *, offset: int = 0, limit: int = 50) -> list[BatchRecord]:
        offset, limit = max(0, offset), max(0, limit)
        if limit == 0:
            return []
        # Ties in created_at sort by id, as text, both ways: descending here.
        ids = texts(self._r.zrevrange(f"{self._p}:batches", offset, offset + limit - 1))
        return [found for found in self._batches(ids) if found is not None]

    def count_batches(self) -> int:
        return int(self._r.zcard(f"{self._p}:batches"))

    def batch_jobs(self, batch_id: str, *, offset: int = 0, limit: int = 50) -> list[JobRecord]:
        offset, limit = max(0, offset), max(0, limit)
        if limit == 0:
            return []
        key = f"{self._p}:batch:{batch_id}:jobs"
        return self._records_by_ids(texts(self._r.zrange(key, offset, offset + limit - 1)))

    def _batches(self, batch_ids: Sequence[str]) -> list[BatchRecord | None]:
        """Each batch as one MULTI snapshot of its hash, counts and continuations."""
        pipe = self._r.pipeline(transaction=True)
        for batch_id in batch_ids:
            key = f"{self._p}:batch:{batch_id}"
            pipe.hgetall(key)
            pipe.hgetall(f"{key}:counts")
            pipe.lrange(f"{key}:continuations", 0, -1)
        replies = pipe.execute() if batch_ids else []
        return [
            _batch_record(batch_id, *replies[3 * n : 3 * n + 3])
            for n, batch_id in enumerate(batch_ids)
        ]


def _batch_record(
    batch_id: str, fields: dict[str, str], counted: dict[str, str], continuations: list[str]
) -> BatchRecord | None:
    if not fields:
        return None
    counts = dict.fromkeys(STATE_NAMES, 0)
    counts.update((name, int(n)) for name, n in counted.items() if name in counts)
    return BatchRecord(
        id=batch_id,
        description=fields["d"],
        created_at=from_us(fields["c"]),
        total=int(fields["n"]),
        counts=counts,
        finished_at=opt_from_us(fields.get("f")),
        outcome=fields.get("o"),
        continuations=tuple(continuations),
    )


def _ids(reply: list[str]) -> list[str]:
    if reply[0] == "missing":
        raise JobNotFoundError(reply[1])
    return list(reply[1:])
