"""Connections of the SQLite storage: per-thread readers, the group-committing writer, retries."""

from __future__ import annotations

import logging
import os
import random
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from stoker.core.errors import StorageBusyError, StorageClosedError, StorageURLError
from stoker.storage.sqlite.batch import Body, WriteRequest, is_busy, run_batch, take_batch
from stoker.storage.sqlite.schema import migrate
from stoker.storage.sqlite.shared import SharedFile, close_shared, open_shared
from stoker.storage.sqlite.url import MEMORY, SQLiteOptions

# Our own generator: jitter must not consume (or depend on) the application's seeded
# global random state.
_JITTER = random.Random()

logger = logging.getLogger("stoker.storage.sqlite")

T = TypeVar("T")
_FIRST_DELAY = 0.001
_MAX_DELAY = 0.1


class _Slot:
    """Holds a thread's reader connection; when the thread ends, the slot dies and closes it."""

    __slots__ = ("__weakref__", "busy", "conn", "seen")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        # Wake-up baseline of this thread's last fetch: (queues, generations, data_version),
        # data_version None when the fetch did not read it.
        self.seen: tuple[tuple[str, ...], tuple[int, ...], int | None] | None = None
        # Whether this thread's last fetch found a job (then the next one skips the look
        # outside the write lock: under load it would only find the job others claim).
        self.busy = False


def _close_quietly(conns: dict[int, sqlite3.Connection], lock: threading.Lock, key: int) -> None:
    with lock:
        conn = conns.pop(key, None)
    if conn is not None:
        try:
            conn.close()
        except sqlite3.Error:
            pass


def _resolve_path(path: str) -> tuple[str, str | None]:
    """(absolute database path, private temporary directory for :memory: or None)."""
    if path == MEMORY:
        directory = tempfile.mkdtemp(prefix="stoker-sqlite-")
        return os.path.join(directory, "stoker.db"), directory
    absolute = os.path.abspath(os.path.expanduser(path))
    parent = os.path.dirname(absolute)
    if not os.path.isdir(parent):
        raise StorageURLError(
            f"cannot open the SQLite database {absolute}: directory {parent} does not exist"
        )
    return absolute, None


_DATABASES: weakref.WeakSet[SQLiteDatabase] = weakref.WeakSet()
# Per-thread connections inherited across fork(): kept referenced in the child, so their
# finalizers never close them there (SQLite forbids using a connection after a fork).
_ABANDONED: list[Any] = []


class SQLiteDatabase:
    """The database file: reader connections (one per thread), the shared writer, retries."""

    def __init__(self, path: str, options: SQLiteOptions) -> None:
        self.options = options
        self.path, self._tempdir = _resolve_path(path)
        self._local = threading.local()
        self._conns: dict[int, sqlite3.Connection] = {}
        self._conns_lock = threading.Lock()
        self._closed = False
        self.shared: SharedFile = open_shared(os.path.realpath(self.path))
        _DATABASES.add(self)
        try:
            conn = self.connection()
            self.retrying(partial(self._prepare_file, conn))
        except BaseException:
            self.close()
            raise

    def _prepare_file(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if row is None or str(row[0]).lower() != "wal":
            logger.warning(
                "%s: could not switch to WAL (journal_mode is %s); readers and writers will "
                "block each other",
                self.path,
                row[0] if row else "unknown",
            )
        if self.options.migrate:
            migrate(conn, self.path)

    def migrate(self) -> int:
        return self.retrying(partial(migrate, self.connection(), self.path))

    # --- connections ------------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's reader connection (opened on first use)."""
        return self.slot().conn

    def slot(self) -> _Slot:
        try:
            slot: _Slot = self._local.slot
        except AttributeError:
            if self._closed:
                raise StorageClosedError(f"the SQLite storage of {self.path} is closed") from None
            conn = self.retrying(self._connect)
            slot = _Slot(conn)
            with self._conns_lock:
                self._conns[id(conn)] = conn
            weakref.finalize(slot, _close_quietly, self._conns, self._conns_lock, id(conn))
            self._local.slot = slot
        return slot

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.options.busy_timeout / 1000,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,  # the writer serves many threads; close() closes all
                cached_statements=256,
            )
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                raise
            raise StorageURLError(f"cannot open the SQLite database {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA synchronous = {self.options.synchronous}")
            conn.execute("PRAGMA temp_store = MEMORY")
            # Checkpoints run in a background thread instead (sqlite_checkpoint); a WAL that
            # a huge bulk insert grew is truncated back after the next one.
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("PRAGMA journal_size_limit = 67108864")
        except BaseException:
            conn.close()
            raise
        return conn

    # --- transactions -----------------------------------------------------------------------
    def retrying(self, attempt: Callable[[], T]) -> T:
        """Run `attempt` again, with jittered exponential back-off, while SQLite answers busy
        (another program holds the lock longer than busy_timeout, or a WAL recovery runs)."""
        deadline = 0.0
        delay = _FIRST_DELAY
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not is_busy(exc):
                    raise
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.options.retry_timeout
                elif now >= deadline:
                    raise StorageBusyError(
                        f"the SQLite database {self.path} stayed locked by another connection "
                        f"for {self.options.retry_timeout:g} s (is a process holding a long "
                        "write transaction?); raise retry_timeout or busy_timeout if this is "
                        "expected"
                    ) from exc
            time.sleep(delay * _JITTER.uniform(0.5, 1.5))
            delay = min(delay * 2, _MAX_DELAY)

    def write(self, body: Body[T]) -> T:
        """Run `body(conn, woken)` in a BEGIN IMMEDIATE transaction and return its result.

        The transaction may carry other threads' writes too (group commit): whichever thread
        gets the write lock runs every pending write; one that raises is undone alone (see
        sqlite_batch). Busy transactions are retried whole. Queues that `body` adds to `woken`
        got Enqueued jobs: this process's waiters are told after the commit. Must not be
        called from inside a body (the write lock is not reentrant)."""
        if self._closed:
            raise StorageClosedError(f"the SQLite storage of {self.path} is closed")
        shared = self.shared
        request: WriteRequest[T] = WriteRequest(body)
        shared.pending.append(request)
        woken: set[str] = set()
        with shared.write_lock:
            try:
                # Whoever held the lock before us may have run our request already.
                if not request.done:
                    conn = shared.writer_connection(partial(self.retrying, self._connect))
                    while not request.done:
                        self._commit_batch(conn, take_batch(shared.pending), woken)
            except BaseException:
                # Never leave our write queued for another thread to run after we are gone.
                if not request.done and request in shared.pending:
                    shared.pending.remove(request)
                raise
        if woken:
            shared.notify(woken)
        shared.checkpoint_if_due(partial(self.retrying, self._connect))
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def _commit_batch(
        self, conn: sqlite3.Connection, batch: list[WriteRequest[Any]], woken: set[str]
    ) -> None:
        """Run `batch` until each request is committed or failed; collect the woken queues."""
        try:
            while batch:
                attempted = batch
                batch = self.retrying(partial(self._attempt, conn, attempted))
                again = {id(request) for request in batch}
                for request in attempted:
                    if id(request) in again:
                        continue
                    if request.error is None:
                        woken |= request.woken
                    request.done = True
        except Exception as exc:  # StorageBusyError, or a failure outside every body
            for request in batch:
                request.error = exc
                request.done = True
        except BaseException:
            # KeyboardInterrupt and the like: this thread stops; give the others back.
            self.shared.pending.extendleft(reversed([r for r in batch if not r.done]))
            raise

    def _attempt(
        self, conn: sqlite3.Connection, batch: list[WriteRequest[Any]]
    ) -> list[WriteRequest[Any]]:
        for request in batch:
            request.reset()
        shared = self.shared
        locked = shared.file_lock.acquire()
        try:
            changes = conn.total_changes
            again = run_batch(conn, batch)
            # Rows written (triggers included) plus the pages every commit rewrites (counts,
            # index tails): a cheap estimate of the WAL's growth.
            shared.written(conn.total_changes - changes + 4)
        finally:
            if locked:
                shared.file_lock.release()
        return again

    def read(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only `body` on this thread's connection, retried while busy."""
        if self._closed:
            raise StorageClosedError(f"the SQLite storage of {self.path} is closed")
        return self.retrying(partial(body, self.connection()))

    def snapshot_read(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run the reads of `body` in one deferred transaction: one consistent snapshot."""

        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN")
            try:
                return body(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

        return self.read(run)

    @staticmethod
    def data_version(conn: sqlite3.Connection) -> int:
        """Changes whenever ANOTHER connection (any process) committed since the last call."""
        row = conn.execute("PRAGMA data_version").fetchone()
        return int(row[0]) if row else 0

    # --- life cycle -------------------------------------------------------------------------
    def reset_after_fork(self) -> None:
        """In a forked child: new shared state and connections; the old ones are abandoned."""
        _ABANDONED.append((self._local, self._conns))
        self.shared = open_shared(os.path.realpath(self.path))
        self._local = threading.local()
        self._conns = {}
        self._conns_lock = threading.Lock()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._conns_lock:
            conns = list(self._conns.values())
            self._conns.clear()
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        _DATABASES.discard(self)
        close_shared(self.shared)
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)


def _after_fork_in_child() -> None:
    for database in list(_DATABASES):
        if not database._closed:
            database.reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
