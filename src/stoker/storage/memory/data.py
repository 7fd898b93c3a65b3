"""The data of one in-memory storage: job and batch rows, their indexes, and the lock that
guards them."""

from __future__ import annotations

import bisect
import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from stoker.core.records import LogLine, RecurringRecord, ServerRecord, StateRecord
from stoker.core.states import SETTLED_STATES
from stoker.storage.common.watchers import SettledWatchers

# JSON text, as the other storages keep it: what a job's params and state data are stored as,
# so that they come back as fresh JSON values (a tuple as a list), never as the caller's object.
dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
loads = json.loads


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC (the storages' promise for every datetime they return)."""
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def dumps_mapping(value: Mapping[str, Any]) -> str:
    return dumps(value if isinstance(value, dict) else dict(value))


@dataclass(frozen=True)
class StoredState:
    """One state of a job as stored: its data kept as JSON text."""

    name: str
    created_at: datetime
    reason: str | None
    data: str

    def record(self) -> StateRecord:
        return StateRecord(self.name, self.created_at, self.reason, loads(self.data))


# A row is an entity that changes in place under the storage's lock (as a table row would);
# only MemoryData.move changes its state, so the indexes never drift from the rows.
@dataclass(eq=False)
class JobRow:
    """One job: its current state, its earlier states, and its placement fields."""

    id: int
    function: str
    args: str
    kwargs: str
    queue: str
    params: str  # JSON text
    created_at: datetime
    state: StoredState
    state_id: int = 1
    history: list[StoredState] = field(default_factory=list)  # earlier states, oldest first
    run_at: datetime | None = None  # Scheduled only
    expire_at: datetime | None = None
    server_id: str | None = None  # Processing only
    parent_id: int | None = None
    on_states: tuple[str, ...] = ()
    deleted_expire_at: datetime | None = None
    progress: float | None = None
    logs: list[LogLine] = field(default_factory=list)
    children: list[int] = field(default_factory=list)  # ids of the jobs that continue this one
    batch_id: str | None = None  # the batch it is a member of (counted per state with it)

    @property
    def order_key(self) -> tuple[datetime, int]:
        """(time it entered its state, id): the order of every list of a state."""
        return self.state.created_at, self.id

    @property
    def worker_id(self) -> str | None:
        return loads(self.state.data).get("worker_id") if self.state.name == "Processing" else None


@dataclass(eq=False)
class BatchRow:
    """One batch: its members counted per state (kept by MemoryData.add and move, so it is
    finished from its counts, never by reading its members) and the jobs that continue it."""

    id: str
    description: str
    created_at: datetime
    total: int
    counts: Counter[str] = field(default_factory=Counter)  # state name -> member jobs
    members: list[int] = field(default_factory=list)  # ids in creation (id) order
    continuations: list[int] = field(default_factory=list)
    finished_at: datetime | None = None
    outcome: str | None = None

    @property
    def order_key(self) -> tuple[datetime, str]:
        """(created_at, id): the order batches are listed in, and finished in."""
        return self.created_at, self.id


@dataclass(frozen=True)
class Move:
    """A job's next state, as `MemoryData.move` applies it."""

    name: str
    at: datetime
    reason: str | None
    data: str  # JSON text
    queue: str | None = None  # None: the job keeps its queue
    run_at: datetime | None = None
    expire_at: datetime | None = None
    server_id: str | None = None


@dataclass
class Effects:
    """What one write did that others must hear of once the lock is released."""

    queues: set[str] = field(default_factory=set)  # queues that got an Enqueued job
    settled: set[str] = field(default_factory=set)  # jobs that reached a settled state


class MemoryData:
    """Every record of one in-memory storage, with indexes kept by `add`, `move` and `remove`.

    One condition (and its lock) guards everything: each storage call is one critical section,
    so a call is atomic exactly as one transaction of the other storages is. Storages opened
    with the same `memory://<name>` in one process share one MemoryData."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cond = threading.Condition(threading.Lock())
        self.watchers = SettledWatchers()
        self.next_id = 1
        self.jobs: dict[int, JobRow] = {}
        self.by_state: dict[str, dict[int, JobRow]] = {}
        self.counts: Counter[tuple[str, str]] = Counter()  # (state, queue) -> jobs
        self.enqueued: dict[str, list[tuple[datetime, int]]] = {}  # queue -> sorted keys
        self.due: list[tuple[datetime, int]] = []  # Scheduled jobs' sorted (run_at, id)
        self.counters: dict[str, tuple[int, datetime | None]] = {}
        self.idempotency: dict[str, tuple[int, datetime]] = {}  # key -> (job id, expiry)
        self.unique: dict[str, int] = {}  # key -> job id
        # Concurrency and rate limits (see limits.py): key -> {job id: state id of its slot},
        # key -> {waiting job id: (its Awaiting state id, concurrency)} in line order, and
        # and rate key -> starts as (time, job id if reserved for that job and not used yet).
        self.slots: dict[str, dict[int, int]] = {}
        self.lines: dict[str, dict[int, tuple[int, int]]] = {}
        self.starts: dict[str, list[tuple[datetime, int | None]]] = {}
        self.servers: dict[str, ServerRecord] = {}
        self.recurring: dict[str, RecurringRecord] = {}
        self.locks: dict[str, tuple[str, datetime]] = {}  # name -> (owner, expiry)
        # Batches (see batches.py): id -> batch, every batch's and the unfinished ones'
        # sorted (created_at, id) keys.
        self.batches: dict[str, BatchRow] = {}
        self.batch_order: list[tuple[datetime, str]] = []
        self.open_batches: list[tuple[datetime, str]] = []

    @contextmanager
    def write(self) -> Iterator[Effects]:
        """One atomic write: waiters for the queues it filled are woken, and watchers of the
        jobs it settled are told, after the lock is released (a watcher may call back in)."""
        effects = Effects()
        with self.cond:
            yield effects
            if effects.queues:
                self.cond.notify_all()
        for job_id in sorted(effects.settled):
            self.watchers.wake(job_id)

    # --- rows and their indexes ----------------------------------------------------------------
    def add(self, row: JobRow, effects: Effects) -> None:
        self.jobs[row.id] = row
        self._index(row, effects)
        if row.batch_id is not None:
            batch = self.batches[row.batch_id]
            batch.counts[row.state.name] += 1
            batch.members.append(row.id)
        if row.parent_id is not None and row.parent_id in self.jobs:
            self.jobs[row.parent_id].children.append(row.id)

    def move(self, row: JobRow, move: Move, effects: Effects) -> None:
        """File the current state into the history and enter the next one (state_id + 1)."""
        self._unindex(row)
        if row.batch_id is not None:  # the one field a plain job's move reads for batches
            counts = self.batches[row.batch_id].counts
            counts[row.state.name] -= 1
            counts[move.name] += 1
        row.history.append(row.state)
        row.state = StoredState(move.name, utc(move.at), move.reason, move.data)
        row.state_id += 1
        row.queue = move.queue or row.queue
        row.run_at = utc_or_none(move.run_at) if move.name == "Scheduled" else None
        row.expire_at = utc_or_none(move.expire_at)
        row.server_id = move.server_id if move.name == "Processing" else None
        self._index(row, effects)

    def remove(self, row: JobRow) -> None:
        """Forget a job with its history and logs; a unique key it held is free again."""
        self._unindex(row)
        del self.jobs[row.id]
        for key in [key for key, job_id in self.unique.items() if job_id == row.id]:
            del self.unique[key]

    def _index(self, row: JobRow, effects: Effects) -> None:
        name = row.state.name
        self.by_state.setdefault(name, {})[row.id] = row
        self.counts[(name, row.queue)] += 1
        if name == "Enqueued":
            bisect.insort(self.enqueued.setdefault(row.queue, []), row.order_key)
            effects.queues.add(row.queue)
        elif name == "Scheduled" and row.run_at is not None:
            bisect.insort(self.due, (row.run_at, row.id))
        if name in SETTLED_STATES:
            effects.settled.add(str(row.id))

    def _unindex(self, row: JobRow) -> None:
        name = row.state.name
        del self.by_state[name][row.id]
        self.counts[(name, row.queue)] -= 1
        if not self.counts[(name, row.queue)]:
            del self.counts[(name, row.queue)]
        if name == "Enqueued":
            _discard(self.enqueued[row.queue], row.order_key)
        elif name == "Scheduled" and row.run_at is not None:
            _discard(self.due, (row.run_at, row.id))

    def add_batch(self, batch: BatchRow) -> None:
        self.batches[batch.id] = batch
        bisect.insort(self.batch_order, batch.order_key)
        bisect.insort(self.open_batches, batch.order_key)

    def finish_batch(self, batch: BatchRow, at: datetime, outcome: str) -> None:
        """Record the outcome of a batch whose members all settled; it is open no more."""
        batch.finished_at, batch.outcome = utc(at), outcome
        index = bisect.bisect_left(self.open_batches, batch.order_key)
        if index < len(self.open_batches) and self.open_batches[index] == batch.order_key:
            del self.open_batches[index]

    def is_parked(self, job_id: int) -> bool:
        """Whether the job waits in the line of a concurrency key (see limits.py)."""
        return any(job_id in line for line in self.lines.values())

    def in_state(self, name: str, queue: str | None = None) -> list[JobRow]:
        """The jobs in state `name` (and `queue`), unordered."""
        rows = self.by_state.get(name, {}).values()
        return list(rows) if queue is None else [row for row in rows if row.queue == queue]

    def has_work(self, queues: tuple[str, ...]) -> bool:
        return any(self.enqueued.get(queue) for queue in queues)


def _discard(keys: list[tuple[datetime, int]], key: tuple[datetime, int]) -> None:
    index = bisect.bisect_left(keys, key)
    if index < len(keys) and keys[index] == key:
        del keys[index]
