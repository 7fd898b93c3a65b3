"""LISTEN/NOTIFY wake-up: one listening connection per storage, shared by all waiting workers
and by everyone waiting for a job to settle."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import psycopg
from psycopg import sql

from stoker.core.errors import StorageClosedError
from stoker.storage.common.urls import redact_url
from stoker.storage.common.watchers import SettledWatchers

logger = logging.getLogger("stoker.storage.postgres")

# A notification that arrived this recently still counts for a worker that starts waiting now:
# it may have been sent while the worker's last (empty) fetch was on its way.
_RECENT_SECONDS = 0.02
_HEALTH_CHECK_SECONDS = 10.0
_MAX_BACKOFF_SECONDS = 10.0


class _Waiter:
    __slots__ = ("event", "queues")

    def __init__(self, queues: frozenset[str]) -> None:
        self.queues = queues
        self.event = threading.Event()


class Listener:
    """Delivers `NOTIFY channel, 'queue count'` to waiters of that queue.

    A background thread holds a dedicated autocommit connection that LISTENs on the channel.
    A notification wakes at most `count` waiters of its queue (no thundering herd for a single
    job; every worker for a bulk enqueue). If the connection drops, waiters simply sleep their
    full timeout (polling) while the thread reconnects with back-off; on reconnection every
    waiter is woken because notifications may have been missed meanwhile."""

    def __init__(self, conninfo: str, channel: str, settled_channel: str) -> None:
        self._conninfo = conninfo
        self._channel = channel
        self._settled_channel = settled_channel
        self._lock = threading.Lock()
        self._waiters: deque[_Waiter] = deque()
        self._watchers = SettledWatchers()  # those waiting for a job to settle (App.wait)
        self._recent: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed_message: str | None = None
        self.connected = threading.Event()

    def wait(self, queues: Sequence[str], timeout: float) -> None:
        """Block up to `timeout` seconds or until a job may be waiting in one of `queues`.

        Raises StorageClosedError once closed with a `closed_message` (the storage is closed)."""
        if self._closed_message is not None:
            raise StorageClosedError(self._closed_message)
        self._ensure_started()
        waiter = _Waiter(frozenset(queues))
        now = time.monotonic()
        with self._lock:
            if any(now - self._recent.get(q, -1e9) < _RECENT_SECONDS for q in waiter.queues):
                return
            self._waiters.append(waiter)
        try:
            waiter.event.wait(max(0.0, timeout))
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def watch(self, job_id: str, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` on each `NOTIFY settled_channel, '<job_id>'` (and after a reconnection,
        when notices may have been lost) until the returned function is called."""
        if self._closed_message is not None:
            raise StorageClosedError(self._closed_message)
        self._ensure_started()
        return self._watchers.add(job_id, wake)

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="stoker-pg-listener", daemon=True
            )
            self._thread.start()

    def dispatch(self, payload: str) -> None:
        """Wake waiters for a notification payload `"<queue> <count>"`."""
        queue, _, count_text = payload.rpartition(" ")
        try:
            count = max(1, int(count_text))
        except ValueError:
            queue, count = payload, 1
        with self._lock:
            self._recent[queue] = time.monotonic()
            woken = 0
            for waiter in list(self._waiters):
                if woken >= count:
                    break
                if queue in waiter.queues:
                    self._waiters.remove(waiter)
                    waiter.event.set()
                    woken += 1

    def wake_all(self) -> None:
        with self._lock:
            waiters, self._waiters = list(self._waiters), deque()
        for waiter in waiters:
            waiter.event.set()
        self._watchers.wake_all()

    def _run(self) -> None:
        delay = 0.1
        outage_since: float | None = None
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    for channel in (self._channel, self._settled_channel):
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    self.connected.set()
                    if outage_since is not None:
                        logger.warning(
                            "PostgreSQL %s: job notifications restored after %.1f s",
                            redact_url(self._conninfo),
                            time.monotonic() - outage_since,
                        )
                        outage_since, delay = None, 0.1
                    # Jobs may have been enqueued or settled while we were not listening.
                    self.wake_all()
                    self._listen(conn)
            except psycopg.Error as exc:
                self.connected.clear()
                if outage_since is None:
                    outage_since = time.monotonic()
                    logger.warning(
                        "PostgreSQL %s: job notifications lost (%s); workers poll until the "
                        "listener reconnects",
                        redact_url(self._conninfo),
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc),
                    )
                self._stop.wait(delay)
                delay = min(delay * 2, _MAX_BACKOFF_SECONDS)
        self.connected.clear()

    def _listen(self, conn: psycopg.Connection[object]) -> None:
        last_check = time.monotonic()
        while not self._stop.is_set():
            for notify in conn.notifies(timeout=0.25):
                if notify.channel == self._settled_channel:
                    self._watchers.wake(notify.payload)
                else:
                    self.dispatch(notify.payload)
            if time.monotonic() - last_check > _HEALTH_CHECK_SECONDS:
                # A connection cut without a FIN never raises on its own: probe it.
                conn.execute("SELECT 1")
                last_check = time.monotonic()

    def close(self, *, closed_message: str | None = None) -> None:
        """Stop listening and wake every waiter. Later waits sleep their whole timeout (polling),
        or, given `closed_message` (its storage is closed), raise StorageClosedError."""
        if closed_message is not None:
            self._closed_message = closed_message
        self._stop.set()
        self.wake_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
