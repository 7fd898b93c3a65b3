"""An inter-process lock on a file next to the database, which the kernel hands over at once."""

from __future__ import annotations

import os
import threading
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone serialises writers
    fcntl: Any = None  # type: ignore[no-redef]


class FileLock:
    """`flock()` on `path`, held by one thread of this process at a time (callers hold the
    process's write lock around it).

    Why: SQLite's busy handler makes a writer that finds the database locked sleep 1, 2, 5,
    10 ms and more before looking again; with several server processes writing constantly that
    wastes most of the time. A blocked flock() returns the moment the holder releases it. The
    kernel drops the lock of a process that dies, so it can never be left stale. It is only
    advisory: other programs writing the database still meet SQLite's own lock (busy_timeout),
    and a file system without flock() (some network file systems) falls back to that."""

    def __init__(self, path: str) -> None:
        self._fd: int | None = None
        self._guard = threading.Lock()
        if fcntl is None:
            return
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            self._fd = None  # e.g. a read-only directory: rely on SQLite's lock alone

    def acquire(self) -> bool:
        """Take the lock, waiting for other processes; False if locking is unavailable."""
        fd = self._fd
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            return False
        return True

    def release(self) -> None:
        fd = self._fd
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                pass

    def close(self) -> None:
        with self._guard:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        fd = self._fd
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass
