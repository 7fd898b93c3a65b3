"""Per-process state shared by every SQLite storage of one file: writer, locks, wake-ups."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from stoker.storage.sqlite import checkpoint as sqlite_checkpoint
from stoker.storage.sqlite.batch import WriteRequest
from stoker.storage.sqlite.checkpoint import Checkpointer
from stoker.storage.sqlite.lock import FileLock


class SharedFile:
    """Per-process state of one database file, shared by every SQLiteStorage opened on it.

    Writes are queued on `pending`; the thread holding `write_lock` runs all of them in one
    transaction (group commit, see sqlite_batch) on the one `writer` connection, holding
    `file_lock` against other processes. One writer keeps its page cache warm: SQLite drops a
    connection's cache whenever ANOTHER connection has committed. Both locks hand over at once
    when released, where SQLite's busy handler would poll with sleeps of 1, 2, 5, ... ms.

    `generations` counts enqueue events per queue and `wake` is notified after each, for
    `wait_for_jobs`. `pages` estimates the WAL written since the last checkpoint, which the
    `checkpointer` thread (started on first need) then runs."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.users = 0
        self.pending: deque[WriteRequest[Any]] = deque()
        self.write_lock = threading.Lock()
        self.file_lock = FileLock(path + "-lock")
        self.writer: sqlite3.Connection | None = None
        self.wake = threading.Condition(threading.Lock())
        self.generations: dict[str, int] = {}
        self.pages = 0
        self.checkpointer: Checkpointer | None = None
        self._checkpointer_lock = threading.Lock()

    def writer_connection(self, connect: Callable[[], sqlite3.Connection]) -> sqlite3.Connection:
        """The writer connection, opened on first use; call only while holding write_lock."""
        conn = self.writer
        if conn is None:
            conn = self.writer = connect()
        return conn

    def written(self, pages: int) -> None:
        """Count the estimated WAL pages of a commit; call only while holding write_lock."""
        self.pages += pages

    def checkpoint_if_due(self, connect: Callable[[], sqlite3.Connection]) -> None:
        """Ask the checkpointer (started now if need be) to run, once enough was written."""
        if self.pages < sqlite_checkpoint.CHECKPOINT_PAGES:
            return
        self.pages = 0
        checkpointer = self.checkpointer
        if checkpointer is None:
            with self._checkpointer_lock:
                if self.checkpointer is None:
                    self.checkpointer = Checkpointer(
                        self.path, self.write_lock, self.file_lock, connect
                    )
                checkpointer = self.checkpointer
        checkpointer.request()

    # --- wake-ups -----------------------------------------------------------------------------
    def notify(self, queues: Iterable[str]) -> None:
        """Wake this process's waiters: jobs were enqueued on `queues`."""
        with self.wake:
            generations = self.generations
            for queue in queues:
                generations[queue] = generations.get(queue, 0) + 1
            self.wake.notify_all()

    def snapshot(self, queues: Sequence[str]) -> tuple[int, ...]:
        get = self.generations.get
        return tuple(get(queue, 0) for queue in queues)

    def wait(self, queues: Sequence[str], seen: tuple[int, ...], timeout: float) -> bool:
        """Block until a job is enqueued on one of `queues` in this process after `seen` was
        taken (True), or until `timeout` passes (False)."""
        with self.wake:
            return self.wake.wait_for(lambda: self.snapshot(queues) != seen, timeout)

    def close(self) -> None:
        with self._checkpointer_lock:
            checkpointer, self.checkpointer = self.checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()  # before taking write_lock, which a checkpoint may need
        with self.write_lock:
            conn, self.writer = self.writer, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self.file_lock.close()


_FILES: dict[str, SharedFile] = {}
_FILES_LOCK = threading.Lock()
# Objects inherited across fork(): never closed nor collected in the child (SQLite forbids
# using, even closing, a connection opened before the fork).
_ABANDONED: list[SharedFile] = []


def open_shared(path: str) -> SharedFile:
    """The shared state of `path` (a real path), counting one more user."""
    with _FILES_LOCK:
        shared = _FILES.get(path)
        if shared is None:
            shared = _FILES[path] = SharedFile(path)
        shared.users += 1
        return shared


def close_shared(shared: SharedFile) -> None:
    """One user fewer; the last one closes the writer connection and the lock file."""
    with _FILES_LOCK:
        shared.users -= 1
        if shared.users > 0:
            return
        if _FILES.get(shared.path) is shared:
            del _FILES[shared.path]
    shared.close()


def _after_fork_in_child() -> None:
    # Locks may be held by threads that do not exist in the child: start afresh.
    global _FILES_LOCK
    _ABANDONED.extend(_FILES.values())
    _FILES.clear()
    _FILES_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
