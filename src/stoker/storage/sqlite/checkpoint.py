"""Background checkpoints of the SQLite storage: the WAL copied back without holding up writers."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from stoker.storage.sqlite.lock import FileLock

logger = logging.getLogger("stoker.storage.sqlite")

# Checkpoint after about this many WAL pages (about 16 MB). SQLite's default is 1000, but every
# checkpoint costs two fsync() calls, and a part of each is done while writers wait.
CHECKPOINT_PAGES = 4000


class Checkpointer:
    """A daemon thread (one per database file and process) that copies the WAL back into the
    database file when asked to.

    Our connections turn SQLite's automatic checkpoints off: those run inside COMMIT, so the
    writer that happens to cross the threshold, and every writer queued behind it, would wait
    for all the copying and the fsync() calls. Here a PASSIVE checkpoint (which never waits for
    readers or writers, and returns at once if another process is checkpointing) does the bulk
    of the work while writes go on. SQLite only starts the WAL over, instead of growing it,
    when a write finds it entirely copied back; so the frames written meanwhile are copied with
    this process's writers (and, through the lock file, other processes') held off."""

    def __init__(
        self,
        path: str,
        write_lock: threading.Lock,
        file_lock: FileLock,
        connect: Callable[[], sqlite3.Connection],
    ) -> None:
        self._path = path
        self._write_lock = write_lock
        self._file_lock = file_lock
        self._connect = connect
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="stoker-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def request(self) -> None:
        """Checkpoint soon (requests made while one runs are merged into the next)."""
        self._wanted.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._wanted.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wanted.wait()
                if self._stopping:
                    return
                self._wanted.clear()
                try:
                    if conn is None:
                        conn = self._connect()
                    self._checkpoint(conn)
                except sqlite3.Error as exc:
                    # The writes committed; a checkpoint that cannot run now runs next time.
                    logger.debug("%s: checkpoint skipped (%s)", self._path, exc)
        finally:
            if conn is not None:
                conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        with self._write_lock:
            locked = self._file_lock.acquire()
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                if locked:
                    self._file_lock.release()
