"""Group commit: whoever holds the write lock runs every pending write of its process at once."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Body = Callable[[sqlite3.Connection, set[str]], T]

# Upper bound on the writes one transaction carries, so a leader returns to its own caller soon.
MAX_BATCH = 64
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED (any extended code): another connection holds a lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _BUSY_CODES
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class WriteRequest(Generic[T]):
    """One caller's write: its body, and what running it gave (set by whichever thread ran it).

    `woken` collects the queues the body enqueued jobs on; `done` is set once the body's
    transaction has committed (or the body failed and its writes were undone)."""

    __slots__ = ("body", "done", "error", "result", "woken")

    def __init__(self, body: Body[T]) -> None:
        self.body = body
        self.woken: set[str] = set()
        self.result: T | None = None
        self.error: BaseException | None = None
        self.done = False

    def reset(self) -> None:
        self.woken.clear()
        self.result = None
        self.error = None


def take_batch(pending: deque[WriteRequest[Any]]) -> list[WriteRequest[Any]]:
    """The oldest pending requests, removed from the queue (FIFO, at most MAX_BATCH)."""
    batch: list[WriteRequest[Any]] = []
    try:
        while len(batch) < MAX_BATCH:
            batch.append(pending.popleft())
    except IndexError:
        pass
    return batch


def run_batch(conn: sqlite3.Connection, batch: list[WriteRequest[Any]]) -> list[WriteRequest[Any]]:
    """Run `batch` in ONE `BEGIN IMMEDIATE` transaction; return the requests to run again.

    A body that raises has its own writes undone and its exception stored, while the others
    commit: the batch first runs plainly (no per-request statements: every SQLite call costs
    the leader a trip through the GIL), and only if a body raises is it rolled back and run
    again with each body in its own SAVEPOINT. If SQLite itself aborted the transaction (disk
    full, I/O error), the failing request keeps its error and the others are returned to run
    again. A busy error, or a BaseException such as KeyboardInterrupt, propagates with
    everything rolled back: the caller retries or gives the requests back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for request in batch:
            request.result = request.body(conn, request.woken)
    except Exception as exc:
        _rollback(conn)
        if is_busy(exc):
            raise
        if len(batch) == 1:
            batch[0].reset()
            batch[0].error = exc
            return []
        for request in batch:
            request.reset()
        return _run_isolated(conn, batch)
    except BaseException:
        _rollback(conn)
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return []


def _run_isolated(
    conn: sqlite3.Connection, batch: list[WriteRequest[Any]]
) -> list[WriteRequest[Any]]:
    """run_batch's second attempt, each body in a savepoint."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for index, request in enumerate(batch):
            if not _run_in_savepoint(conn, request):
                # The transaction is gone: run everything but the failed request again.
                return batch[:index] + batch[index + 1 :]
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return []


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _run_in_savepoint(conn: sqlite3.Connection, request: WriteRequest[Any]) -> bool:
    """Run one body of a batch; False if its failure aborted the whole transaction."""
    conn.execute("SAVEPOINT stoker_write")
    try:
        request.result = request.body(conn, request.woken)
    except Exception as exc:
        if is_busy(exc):
            raise
        request.error = exc
        request.woken.clear()
        if not conn.in_transaction:
            return False
        conn.execute("ROLLBACK TO stoker_write")
    conn.execute("RELEASE stoker_write")
    return True
