"""Jobs that crashed their server before run alone, so the next crash is blamed on the right job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CrashIsolation:
    """A readers-writer gate over this server's workers.

    When a process dies, every job it was running gets a crash counted against it, and the
    jobs of one dead server are requeued together and fetched together again: a job that merely
    ran next to a poison job would crash with it each time and be failed as poison too. So a job
    with a crash on record runs alone: the other workers finish what they run and fetch nothing
    until it ends. Only the process matters: jobs in other processes cannot die with it.

    Workers fetch and run ordinary jobs inside `shared()`. A worker that fetched a suspect calls
    `alone()` from inside `shared()`; it gets False (and must give the job back to its queue) if
    another suspect already waits or runs, since two suspects side by side would blame each other.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0  # workers inside shared(), not counting one that runs alone
        self._waiting = False  # a suspect waits for the others to finish
        self._alone = False  # a suspect runs

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._changed:
            while self._waiting or self._alone:
                self._changed.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    def add_share(self) -> None:
        """Inside `shared()`: one more share, for an async job this worker hands to the event
        loop. It counts as a running job until `leave_share()`, so a suspect waits for it too.
        Never waits: the caller's own share already keeps any suspect from running."""
        with self._changed:
            self._active += 1

    def leave_share(self) -> None:
        """The async job of `add_share()` is over (its outcome is stored)."""
        with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def contended(self) -> bool:
        """A suspect waits to run alone (read without the lock: a stale answer only delays)."""
        return self._waiting

    @contextmanager
    def alone(self) -> Iterator[bool]:
        """Inside `shared()`: wait until no other worker runs a job, then run alone (True)."""
        if not self._wait_for_solitude():
            yield False
            return
        try:
            yield True
        finally:
            with self._changed:
                self._alone, self._active = False, self._active + 1
                self._changed.notify_all()

    def _wait_for_solitude(self) -> bool:
        with self._changed:
            if self._waiting or self._alone:
                return False
            self._waiting, self._active = True, self._active - 1
            self._changed.notify_all()
            while self._active:
                self._changed.wait()
            self._waiting, self._alone = False, True
            return True
