"""RedisStorage: the storage contract on Redis, one Lua script per step of a job's life.

Key layout (P is the prefix, default "stoker"; give it a {hash-tag} to keep every key in one
Redis Cluster slot). Times are microseconds since the epoch; index members are the job id
prefixed by a letter giving its length ("A7", "B42"), so equal scores sort as numbers.

    P:job-seq, P:state-seq    string  INCR counters: job ids and state ids (fencing tokens)
    P:job:{id}                hash    f function, a args, k kwargs, q queue, c created_at,
                                      s state, i state_id, t time entered state, e enqueued_at,
                                      x expire_at, p parent id, o on_states (",A,B,"),
                                      d deleted_expire_at, g progress, srv server while
                                      Processing, op token of the last change (retry-safe),
                                      b batch of a member (o and d also on a batch's
                                      continuations)
    P:job:{id}:history        list    JSON {n name, t time, r reason, d data}, oldest first
    P:job:{id}:params         hash    parameter name -> JSON value
    P:job:{id}:logs           list    JSON {t time, m message}
    P:job:{id}:children       list    ids of the jobs continuing this one
    P:state:{State}           zset    members by time entered the state (counts and pages)
    P:queue:{queue}           zset    Enqueued members by time enqueued (fetch: ZPOPMIN)
    P:queues                  set     names of queues ever used
    P:signal:{queue}          list    wake-up tokens for BLPOP in wait_for_jobs (capped)
    P:schedule                zset    Scheduled members by run_at (promotion, by_due pages)
    P:expiry                  zset    members of jobs with an expire_at, by expire_at
    P:processing:{server}     set     ids of the jobs a server is processing
    P:processing-servers      set     servers that have a processing set
    P:claims:{server}         hash    worker -> "token id" of its last fetch (retry-safe)
    P:creates:{client}:{thr}  string  "token ids" of a client thread's last create (retry-safe,
                                      expires after an hour)
    P:servers                 hash    server id -> JSON registration
    P:heartbeats              zset    server ids by last heartbeat
    P:recurring:{id}          hash    a recurring job definition and bookkeeping
    P:recurring-ids           zset    every recurring id, score 0 (listed in id order)
    P:recurring-due           zset    unpaused recurring ids by next_run
    P:counter:{key}           string  statistics counters
    P:counter-expiry          zset    counter keys by expire_at
    P:lock:{name}             hash    owner, expires
    P:batch:{id}              hash    d description, c created_at, n total (members),
                                      f finished_at and o outcome once finished
    P:batch:{id}:counts       hash    state -> members in it: enter() moves a member in the
                                      step that moves it (never counted by reading members)
    P:batch:{id}:jobs         zset    member ids scored by id (batch_jobs pages)
    P:batch:{id}:continuations list   ids of the jobs continuing the batch
    P:batches                 zset    batch ids by created_at (list_batches, newest first)
    P:batches-open            zset    unfinished batch ids by created_at (finish_batches)

Expiry is logical (delete_expired with the caller's `now`), not Redis TTLs: time is injected,
and a Redis TTL would count real time and drop the indexes' view of the job silently.

Batches: a member's counts move in enter() (lua/common.lua), which every state change goes
through, after one HMGET of the job's old state and batch (for a plain job, that read is the
whole cost). finish_batches walks the open batches' counts, oldest first, and finishes each in
the script that removes it from P:batches-open, so each batch finishes once. Expiry removes a
member from its batch's pages but not from its counts: it is not a move.

Search (`Monitor.list_jobs(search=…)`) walks the one state's index in chunks of 500 jobs,
matching the id exactly or function and argument text as a case-insensitive substring.

Connection loss: redis-py reconnects with jittered exponential back-off (options `retries`,
default 8, and `backoff_cap`, default 2 s), logging once when an outage starts and once when it
ends. A command whose reply was lost is sent again, so the writes that must not repeat carry a
token: create_jobs, create_batch and continue_batch (per-thread slot), fetch_next (claims) and
change_state (op field) answer a resend with their first result. fire_recurring's resend
answers None ("another server won"), with the jobs created once; a resent append_log may store
its line twice.

Without persistence a Redis restart loses everything: jobs, history, schedules, recurring
definitions and server registrations (servers see heartbeat() return False and announce
again). Job ids start again from 1 but state ids, the fencing tokens, restart from the Redis
clock, so an old worker can never finish a new job that reuses its id. Run Redis with
`appendonly yes` and `appendfsync everysec` (at most a second of changes lost) or `always`
(none, slower).
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import redis
from redis.commands.core import Script

from stoker.core.errors import JobNotFoundError
from stoker.core.records import (
    Claim,
    CounterIncrement,
    LogLine,
    NewJob,
    RecurringRecord,
    ServerRecord,
    keyed_job,
)
from stoker.storage.redis.batch import RedisBatchedSteps
from stoker.storage.redis.batches import RedisBatches
from stoker.storage.redis.codec import (
    counter_args,
    log_entry,
    new_job_args,
    recurring_fields,
    server_fields,
    to_us,
)
from stoker.storage.redis.connection import (
    WAIT_CHUNK,
    close_client,
    connect,
    make_retry,
    split_url,
)
from stoker.storage.redis.limits import RedisLimits
from stoker.storage.redis.monitor import RedisMonitor, texts
from stoker.storage.redis.scripts import Scripts
from stoker.storage.redis.settled import SettledListener

__all__ = ["RedisStorage"]


class RedisStorage(RedisBatchedSteps, RedisLimits, RedisBatches, RedisMonitor):
    """The storage contract on Redis: every multi-key step is one atomic Lua script."""

    def __init__(self, client: redis.Redis, waiter: redis.Redis, prefix: str) -> None:
        self._r = client
        self._waiter = waiter  # its own pool: a blocked BLPOP holds a connection
        self._p = prefix
        self._s = Scripts.register(client)
        self._settled = SettledListener(waiter, f"{prefix}:settled")
        self._keys = [f"{prefix}:job-seq"]  # declared key, so proxies route to the right node
        self._tokens = itertools.count()
        self._token_base = os.urandom(6).hex()
        self._init_steps()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStorage:
        """Open `redis://[user:password@]host:port/db?prefix=NAME` (or `rediss://`)."""
        plain_url, prefix = split_url(url, options)
        retry = make_retry(url, options)
        client = connect(plain_url, dict(options), retry, socket_timeout=30.0)
        waiter = connect(plain_url, dict(options), retry, socket_timeout=WAIT_CHUNK + 10.0)
        return cls(client, waiter, prefix)

    def _run(self, script: Script, *args: str) -> Any:
        return self._call(script, [self._p, *args])

    # --- jobs -------------------------------------------------------------------------------
    def create_jobs(self, jobs: Sequence[NewJob]) -> list[str]:
        if not jobs:
            return []
        keyed = keyed_job(jobs)
        if keyed is not None:
            return self._create_keyed(keyed)
        slot = self._create_slot()
        args = new_job_args(jobs)
        return _created(self._run(self._s.create_jobs, slot, self._token(), *args))

    def _create_keyed(self, job: NewJob) -> list[str]:
        """One job with its idempotency and unique keys (create_keyed.lua)."""
        slot = self._create_slot()
        expire_at = job.idempotency_expire_at or job.created_at
        keyed = [slot, self._token(), job.idempotency_key or "", to_us(job.created_at)]
        keyed += [to_us(expire_at), job.unique_key or ""]
        return _created(self._run(self._s.create_keyed, *keyed, *new_job_args([job])))

    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        # Only a hint: the claim is always fetch_next's script, so a lost or stale token costs
        # at most one empty fetch or one timeout, never a job.
        if timeout <= 0 or not queues:
            return
        keys = [f"{self._p}:signal:{queue}" for queue in queues]
        # BLPOP's timeout 0 means "forever": never pass less than a millisecond.
        self._waiter.blpop(keys, timeout=max(min(timeout, WAIT_CHUNK), 0.001))

    def watch_settled(self, job_id: str, wake: Callable[[], None]) -> Callable[[], None]:
        """`wake` on each notice that the job settled (see SettledNotices)."""
        return self._settled.watch(job_id, wake)

    def add_counters(self, increments: Sequence[CounterIncrement]) -> None:
        if increments:
            args = [arg for increment in increments for arg in counter_args(increment)]
            self._run(self._s.add_counters, *args)

    def set_progress(self, job_id: str, progress: float) -> None:
        key = f"{self._p}:job:{job_id}"
        self._run(self._s.if_exists, key, "HSET", key, "g", repr(float(progress)))

    def append_log(self, job_id: str, line: LogLine) -> None:
        key = f"{self._p}:job:{job_id}"
        self._run(self._s.if_exists, key, "RPUSH", f"{key}:logs", log_entry(line))

    def enqueue_due_scheduled(self, now: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        return int(self._run(self._s.enqueue_due, to_us(now), str(limit)))

    def delete_expired(self, now: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        return int(self._run(self._s.delete_expired, to_us(now), str(limit)))

    # --- recurring jobs -----------------------------------------------------------------------
    def save_recurring(self, record: RecurringRecord) -> None:
        self._run(self._s.save_recurring, record.id, *recurring_fields(record))

    def remove_recurring(self, recurring_id: str) -> bool:
        return bool(self._run(self._s.remove_recurring, recurring_id))

    def set_recurring_paused(
        self, recurring_id: str, paused: bool, next_run: datetime | None
    ) -> bool:
        next_us = "" if next_run is None else to_us(next_run)
        flag = "1" if paused else "0"
        return bool(self._run(self._s.set_recurring_paused, recurring_id, flag, next_us))

    def due_recurring(self, now: datetime, limit: int) -> list[RecurringRecord]:
        if limit <= 0:
            return []
        due = self._r.zrangebyscore(f"{self._p}:recurring-due", "-inf", to_us(now), 0, limit)
        ids = texts(due)
        records = [self.get_recurring(recurring_id) for recurring_id in ids]
        return [r for r in records if r is not None and not r.paused and r.next_run is not None]

    def fire_recurring(
        self,
        recurring_id: str,
        expected_next_run: datetime,
        next_run: datetime | None,
        jobs: Sequence[NewJob],
        now: datetime,
    ) -> list[str] | None:
        next_us = "" if next_run is None else to_us(next_run)
        args = [recurring_id, to_us(expected_next_run), next_us, to_us(now)]
        reply = self._run(self._s.fire_recurring, *args, *new_job_args(jobs))
        return None if reply[0] == "lost" else _created(reply)

    def record_recurring_error(self, recurring_id: str, error: str | None) -> None:
        key = f"{self._p}:recurring:{recurring_id}"
        command = ("HSET", key, "error", error) if error else ("HDEL", key, "error")
        self._run(self._s.if_exists, key, *command)

    # --- servers --------------------------------------------------------------------------------
    def announce_server(self, server: ServerRecord) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(f"{self._p}:servers", server.id, server_fields(server))
        pipe.zadd(f"{self._p}:heartbeats", {server.id: to_us(server.heartbeat_at)})
        pipe.execute()

    def heartbeat(self, server_id: str, now: datetime) -> bool:
        return bool(self._run(self._s.heartbeat, server_id, to_us(now)))

    def remove_server(self, server_id: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hdel(f"{self._p}:servers", server_id)
        pipe.zrem(f"{self._p}:heartbeats", server_id)
        pipe.delete(f"{self._p}:claims:{server_id}")
        pipe.execute()

    def remove_dead_servers(self, heartbeat_before: datetime) -> list[str]:
        return list(self._run(self._s.remove_dead_servers, to_us(heartbeat_before)))

    def requeue_orphaned_jobs(self, now: datetime, limit: int) -> list[str]:
        if limit <= 0:
            return []
        return list(self._run(self._s.requeue_orphaned, to_us(now), str(limit)))

    def claimed_jobs(self, server_id: str, worker_id: str) -> list[Claim]:
        ids = sorted(texts(self._r.smembers(f"{self._p}:processing:{server_id}")), key=int)
        # MULTI: each job's fields and its newest history entry (who claimed it) agree.
        pipe = self._r.pipeline(transaction=True)
        for job_id in ids:
            pipe.hmget(f"{self._p}:job:{job_id}", "s", "srv", "q", "i")
            pipe.lindex(f"{self._p}:job:{job_id}:history", -1)
        replies = pipe.execute() if ids else []
        claims = []
        for job_id, (state, server, queue, state_id), newest in zip(
            ids, replies[::2], replies[1::2], strict=True
        ):
            if state == "Processing" and server == server_id and _claimer(newest) == worker_id:
                claims.append(Claim(job_id, queue, int(state_id)))
        return claims

    # --- locks --------------------------------------------------------------------------------
    def acquire_lock(self, name: str, owner: str, ttl: float, now: datetime) -> bool:
        expires = int(to_us(now)) + round(ttl * 1_000_000)
        return bool(self._run(self._s.acquire_lock, name, owner, to_us(now), str(expires)))

    def release_lock(self, name: str, owner: str) -> None:
        self._run(self._s.release_lock, name, owner)

    def close(self) -> None:
        message = f"the Redis storage of prefix {self._p!r} is closed"
        self._settled.close(message)
        close_client(self._r, message)
        close_client(self._waiter, message)

    def __repr__(self) -> str:
        return f"RedisStorage(prefix={self._p!r})"


def _claimer(entry: str | None) -> Any:
    """The worker id in a Processing history entry (None if it names none)."""
    data = json.loads(entry).get("d") if entry else None
    return data.get("worker_id") if isinstance(data, dict) else None


def _created(reply: list[str]) -> list[str]:
    if reply[0] == "missing":
        raise JobNotFoundError(reply[1])
    return list(reply[1:])
