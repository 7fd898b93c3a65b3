"""The storage contract: the protocols every storage implements.

Storages are domain-level: they know jobs, states, queues, schedules, recurring jobs and servers,
and perform each step of a job's life in ONE transaction (or one Lua script). Time is always passed
in by the caller, so every storage behaves deterministically under a fake clock. The semantics are
pinned down by `stoker.testing.contract`, which every storage passes unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from stoker.core.batches import BatchRecord, NewBatch
from stoker.core.records import (
    Admission,
    Claim,
    CounterIncrement,
    FetchedJob,
    Gate,
    JobDetails,
    JobRecord,
    LogLine,
    NewJob,
    RecurringRecord,
    SearchResult,
    ServerRecord,
    StateChange,
)


@runtime_checkable
class Monitor(Protocol):
    """Read-only queries for the dashboard, the CLI and `App.get_job`."""

    def count_by_state(self) -> dict[str, int]:
        """Number of jobs in each state; every name of STATE_NAMES is present."""
        ...

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
        """Jobs in `state`, ordered by the time they entered it; `search` is `search_jobs`'s.
        `newest_first` means descending by the sort key. With `by_due` the key is the due time
        (run_at) of Scheduled jobs, ties by id ascending in both directions: soonest first
        unless `newest_first`. `by_due` with another state or with a search is a ValueError."""
        ...

    def count_jobs(self, state: str, *, queue: str | None = None, search: str | None = None) -> int:
        """How many jobs `list_jobs` would page through."""
        ...

    def search_jobs(
        self,
        state: str,
        search: str,
        *,
        queue: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> SearchResult:
        """A page of the jobs in `state` (and `queue`) that match `search`, with their number,
        from ONE evaluation of the search. Matches are the job whose id is `search`, and the
        jobs whose function name or argument text contain it (case-insensitive) among the
        newest `window` jobs of the state: no storage has an index of substrings, so text
        search is bounded (see stoker.core.search)."""
        ...

    def job_details(self, job_id: str) -> JobDetails | None:
        """The job with its whole history, log lines and continuations; None if unknown."""
        ...

    def job_states(self, job_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """Current (state name, state_id) of each known job."""
        ...

    def list_servers(self) -> list[ServerRecord]:
        """Servers that announced themselves and were not removed."""
        ...

    def processing_counts(self) -> dict[str, int]:
        """Number of jobs in Processing per server id."""
        ...

    def queue_lengths(self) -> dict[str, int]:
        """Number of Enqueued jobs per queue (queues with none may be absent)."""
        ...

    def list_recurring(self) -> list[RecurringRecord]:
        """Every recurring job, ordered by id."""
        ...

    def get_recurring(self, recurring_id: str) -> RecurringRecord | None:
        """One recurring job, or None."""
        ...

    def get_counters(self, keys: Sequence[str]) -> dict[str, int]:
        """Values of the counters (0 for a missing or expired key)."""
        ...

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        """A batch with its jobs counted per state (every STATE_NAMES name present); None if
        unknown. Reads counters, never the batch's jobs."""
        ...

    def list_batches(self, *, offset: int = 0, limit: int = 50) -> list[BatchRecord]:
        """Batches, newest first (by creation, ties by id)."""
        ...

    def count_batches(self) -> int: ...

    def batch_jobs(self, batch_id: str, *, offset: int = 0, limit: int = 50) -> list[JobRecord]:
        """A page of a batch's member jobs, in creation order."""
        ...


@runtime_checkable
class Storage(Monitor, Protocol):
    """Everything the client and the server need from a storage."""

    # --- jobs -------------------------------------------------------------------------------
    def create_jobs(self, jobs: Sequence[NewJob]) -> list[str]:
        """Create jobs in one transaction and return their ids, in order.

        An Awaiting job whose parent is already in one of its `on_states` is created Enqueued;
        one whose parent already reached another final state is created Deleted. A missing
        parent raises JobNotFoundError and nothing is stored."""
        ...

    def fetch_next(
        self, queues: Sequence[str], server_id: str, worker_id: str, now: datetime
    ) -> FetchedJob | None:
        """Claim the oldest Enqueued job of the first non-empty queue (queues in priority
        order) and move it to Processing, in one step; None if every queue is empty."""
        ...

    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Block up to `timeout` seconds, returning early when a job may have been enqueued."""
        ...

    def change_state(self, change: StateChange) -> bool:
        """Apply `change` if the job is in an expected state; False (and nothing written) if
        it is not, or if the job does not exist."""
        ...

    def finish_and_fetch(
        self,
        change: StateChange,
        queues: Sequence[str],
        server_id: str,
        worker_id: str,
        now: datetime,
    ) -> tuple[bool, FetchedJob | None]:
        """`change_state(change)` followed by `fetch_next(queues, server_id, worker_id, now)`,
        in ONE transaction (one script): a worker stores a job's outcome and claims its next
        job in one round trip. Returns (applied, fetched).

        The change is applied or refused exactly as `change_state` would; the claim happens
        either way, because a refused change means someone else decided about that job
        (deleted, requeued), not that the worker should stop. If it raises, neither happened
        (SQLite, PostgreSQL) or the storage's own retry tokens make a resend safe (Redis).
        With no `queues` nothing is claimed (fetched is None): an async job's outcome, which
        a storage may send together with other threads' outcomes."""
        ...

    # --- concurrency and rate limits ---------------------------------------------------------
    def admit(self, gate: Gate) -> Admission:
        """Decide, in one atomic step, whether a claimed job with limits may run now.

        Nothing happens (not admitted) unless the job is Processing with `gate.state_id`.
        Concurrency: if `gate.concurrency` jobs holding a slot of `gate.concurrency_key` are
        Processing (this one aside), the job moves to `gate.waiting` (Awaiting) and joins the
        key's waiters, oldest first; otherwise it holds a slot. Rate: a start the job reserved
        earlier is used if its time has come (or answered again if not); otherwise the job
        starts now if fewer than `rate_count` starts of `rate_key` lie in the last
        `rate_period` seconds, else it reserves the first start the window allows after every
        start already reserved (in order), holds no slot, and the answer carries that time."""
        ...

    def release_slot(self, key: str, job_id: str, state_id: int, now: datetime) -> int:
        """Give back the slot of concurrency `key` that `job_id` took in its Processing state
        `state_id` (if it still holds that one), then enqueue the key's oldest waiters while
        slots are free, each holding its slot while Enqueued (a newer job cannot overtake
        it); return how many were enqueued. A slot counts while its job is Enqueued or
        Processing: a finished or deleted job's slot is free, and a crashed server's job,
        requeued by the watchdog, keeps its slot and runs again."""
        ...

    def promote_waiting(self, now: datetime, limit: int) -> int:
        """`release_slot` for every key that has waiters (up to `limit` keys): the safety net
        for a release that never happened (its process died); return how many were enqueued."""
        ...

    # --- batches ---------------------------------------------------------------------------
    def create_batch(self, batch: NewBatch, jobs: Sequence[NewJob]) -> list[str]:
        """Create the batch and `jobs` in one transaction and return the jobs' ids in order
        (all or nothing). Jobs whose `batch_id` is the batch's are its members: from now on
        the storage counts them per state in the same step as every change that moves one,
        whoever makes it. Jobs whose `awaits_batch` is the batch's are its continuations,
        Awaiting until finish_batches releases them. A used batch id is a ValueError."""
        ...

    def continue_batch(self, job: NewJob) -> str:
        """Create `job`, an Awaiting continuation of batch `job.awaits_batch`; if the batch
        finished already, in the state finish_batches would have moved it to. An unknown
        batch raises BatchNotFoundError and nothing is stored."""
        ...

    def finish_batches(self, now: datetime, limit: int) -> list[str]:
        """Finish up to `limit` batches whose members all settled (Succeeded, Failed or
        Deleted): record the outcome (stoker.core.batches.batch_outcome) and move each
        continuation to Enqueued if it waits for that outcome, else to Deleted, with history
        reasons from stoker.core.batches.continuation_record. Exactly once per batch however
        many servers call at once; return the ids of the batches finished by this call."""
        ...

    def set_progress(self, job_id: str, progress: float) -> None:
        """Record how far a running job is (0.0 .. 1.0)."""
        ...

    def append_log(self, job_id: str, line: LogLine) -> None:
        """Store a log line with the job."""
        ...

    def add_counters(self, increments: Sequence[CounterIncrement]) -> None:
        """Add each increment to its counter in one atomic write (a server's folded
        statistics); a counter's `expire_at` becomes the increment's where it has one."""
        ...

    def enqueue_due_scheduled(self, now: datetime, limit: int) -> int:
        """Move up to `limit` Scheduled jobs whose time has come to Enqueued; return how many."""
        ...

    def delete_expired(self, now: datetime, limit: int) -> int:
        """Remove up to `limit` jobs (with history and logs) whose expiry has passed, and
        expired counters; return the number of jobs removed."""
        ...

    # --- recurring jobs -----------------------------------------------------------------------
    def save_recurring(self, record: RecurringRecord) -> None:
        """Create or update a recurring job; an update keeps last_run and last_job_id."""
        ...

    def remove_recurring(self, recurring_id: str) -> bool:
        """Delete a recurring job definition; False if there was none."""
        ...

    def set_recurring_paused(
        self, recurring_id: str, paused: bool, next_run: datetime | None
    ) -> bool:
        """Pause (next_run None) or resume (next_run given); False if unknown."""
        ...

    def due_recurring(self, now: datetime, limit: int) -> list[RecurringRecord]:
        """Unpaused recurring jobs whose next_run <= now."""
        ...

    def fire_recurring(
        self,
        recurring_id: str,
        expected_next_run: datetime,
        next_run: datetime | None,
        jobs: Sequence[NewJob],
        now: datetime,
    ) -> list[str] | None:
        """Exactly-once step of the recurring scheduler: if the recurring job's next_run is still
        `expected_next_run`, create `jobs`, set next_run and (if a job was created) last_run and
        last_job_id, all in one transaction, and return the new ids. None if another server won."""
        ...

    def record_recurring_error(self, recurring_id: str, error: str | None) -> None:
        """Remember (or clear) a scheduling error to show to people."""
        ...

    # --- servers --------------------------------------------------------------------------------
    def announce_server(self, server: ServerRecord) -> None:
        """Register (or re-register) a server."""
        ...

    def heartbeat(self, server_id: str, now: datetime) -> bool:
        """Refresh a server's heartbeat; False if it is no longer registered (it was presumed
        dead), in which case the server must announce itself again."""
        ...

    def remove_server(self, server_id: str) -> None:
        """Unregister a server that stops."""
        ...

    def remove_dead_servers(self, heartbeat_before: datetime) -> list[str]:
        """Unregister servers whose last heartbeat is older than `heartbeat_before`."""
        ...

    def requeue_orphaned_jobs(self, now: datetime, limit: int) -> list[str]:
        """Move Processing jobs whose server is no longer registered back to Enqueued (history
        says why and increments the job's `crashes` parameter); return their ids."""
        ...

    def claimed_jobs(self, server_id: str, worker_id: str) -> list[Claim]:
        """The jobs in Processing that `worker_id` of `server_id` claimed, oldest id first.

        A worker holds one job at a time, so a worker holding none that finds a claim here
        lost the reply of a fetch that did commit (the connection dropped after the commit):
        nobody will run that job, and its live server keeps the watchdog away from it."""
        ...

    # --- locks --------------------------------------------------------------------------------
    def acquire_lock(self, name: str, owner: str, ttl: float, now: datetime) -> bool:
        """Take (or extend, for the same owner) a named lock for `ttl` seconds."""
        ...

    def release_lock(self, name: str, owner: str) -> None:
        """Give a lock back if `owner` holds it."""
        ...

    def close(self) -> None:
        """Release connections. Closing again is harmless; any other call afterwards raises
        `stoker.errors.StorageClosedError`."""
        ...


@runtime_checkable
class SettledNotices(Protocol):
    """A storage that tells waiters when a job may have settled (PostgreSQL's LISTEN/NOTIFY,
    Redis pub/sub); `wait` reads the job's state again on each notice instead of polling fast.
    Storages without one (SQLite) are polled with back-off."""

    def watch_settled(self, job_id: str, wake: Callable[[], None]) -> Callable[[], None]:
        """From now on, call `wake` (on any thread, quickly) whenever job `job_id` may have
        reached Succeeded, Failed or Deleted, and whenever notices may have been missed (the
        listening connection came back). Spurious calls are allowed; a missed notice is not,
        while the connection is up. Returns the function that stops the watch."""
        ...
