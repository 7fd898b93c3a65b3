"""Notices of settled jobs on Redis: one pub/sub connection per storage, shared by all waiters."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from stoker.core.errors import StorageClosedError
from stoker.storage.common.watchers import SettledWatchers
from stoker.storage.redis.connection import WAIT_CHUNK

log = logging.getLogger("stoker.storage.redis")

_MAX_BACKOFF_SECONDS = 10.0
_POLL_SECONDS = 0.25  # how soon the listening thread notices that the storage is closing


class SettledListener:
    """Delivers `PUBLISH <prefix>:settled <job id>` (sent by the scripts whenever a job enters
    Succeeded, Failed or Deleted) to those waiting for that job.

    A background thread, started by the first watch, holds one subscribed connection. Each
    time the subscription is (re)confirmed every watcher is woken: a notice sent before it was
    live, or while the connection was down, may have been missed. Watchers poll slowly too, so
    a connection that died silently costs latency, never a wait that never ends."""

    def __init__(self, client: redis.Redis, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._lock = threading.Lock()
        self._watchers = SettledWatchers()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed_message: str | None = None

    def watch(self, job_id: str, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` on each notice about `job_id` until the returned function is called."""
        with self._lock:
            if self._closed_message is not None:
                raise StorageClosedError(self._closed_message)
            stop = self._watchers.add(job_id, wake)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="stoker-redis-settled", daemon=True
                )
                self._thread.start()
        return stop

    def close(self, closed_message: str) -> None:
        """Stop listening and wake every watcher (their next read raises StorageClosedError)."""
        with self._lock:
            self._closed_message = closed_message
            thread = self._thread
        self._stop.set()
        self._watchers.wake_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=WAIT_CHUNK)

    def _run(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            pubsub = self._client.pubsub()
            try:
                pubsub.subscribe(self._channel)
                self._listen(pubsub)
            except Exception as exc:  # any failure: reconnect (or leave, if closing)
                if self._stop.is_set():
                    break
                log.warning("Redis settled-job notices lost (%s); waiters poll meanwhile", exc)
                self._watchers.wake_all()
                self._stop.wait(delay)
                delay = min(delay * 2, _MAX_BACKOFF_SECONDS)
            finally:
                _close_quietly(pubsub)

    def _listen(self, pubsub: Any) -> None:
        while not self._stop.is_set():
            message = pubsub.get_message(timeout=_POLL_SECONDS)
            if message is None:
                continue
            if message["type"] == "subscribe":  # live from now: what came before is unknown
                self._watchers.wake_all()
            elif message["type"] == "message":
                self._watchers.wake(str(message["data"]))


def _close_quietly(pubsub: Any) -> None:
    try:
        pubsub.close()
    except Exception:  # the storage closed its pool first: nothing left to release
        log.debug("closing the settled-notice subscription failed", exc_info=True)
