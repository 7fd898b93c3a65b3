"""Connections of the Redis storage: URL options, reconnect with back-off, one log per outage."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from stoker.core.errors import StorageClosedError, StorageURLError
from stoker.storage.common.urls import redact_url

log = logging.getLogger("stoker.storage.redis")
T = TypeVar("T")

DEFAULT_PREFIX = "stoker"
# Longest single BLPOP; waits are split into such chunks so that a socket timeout (which must
# exceed it) still detects a connection that died silently while we were blocked on it.
WAIT_CHUNK = 5.0
# Failures this soon after a recovery are logged only if they go on this long (see _outage).
_QUIET_SECONDS = 5.0


class OutageLoggingRetry(Retry):
    """redis-py's retry with back-off that logs the start and the end of an outage once each.

    Only connection errors are retried: they happen before a command is sent or when its reply
    is lost, and every stoker script is safe to resend (fetch and change carry a token). A
    timeout is not retried, since a slow script may still be running and would run twice."""

    def __init__(self, url: str, retries: int, backoff_cap: float) -> None:
        super().__init__(
            ExponentialWithJitterBackoff(base=0.05, cap=backoff_cap),
            retries,
            (RedisConnectionError, ConnectionResetError, BrokenPipeError),
        )
        self._where = redact_url(url)
        self._lock = threading.Lock()
        self._depth = threading.local()
        self._down = False
        self._announced = False
        self._down_since = 0.0
        self._restored_at = -_QUIET_SECONDS

    def __deepcopy__(self, memo: dict[int, Any]) -> OutageLoggingRetry:
        # redis-py copies the retry into each connection; the outage state must be shared.
        return self

    def call_with_retry(self, do: Callable[[], T], fail: Any, *args: Any, **kwargs: Any) -> T:
        failures = 0

        def failed(error: Exception, *rest: Any) -> Any:
            nonlocal failures
            failures += 1
            # One failure is usually a pooled connection the server closed (after a restart, or
            # an idle timeout) and the retry reconnects at once: an outage is a second failure.
            if failures >= 2:
                self._outage(error)
            return fail(error, *rest)

        # redis-py nests call_with_retry (a command's retry wraps connect()'s): only the
        # outermost call's success proves Redis answers commands again.
        depth = getattr(self._depth, "value", 0)
        self._depth.value = depth + 1
        try:
            result = super().call_with_retry(do, failed, *args, **kwargs)
        finally:
            self._depth.value = depth
        if depth == 0 and self._down:
            self._recovered()
        return result

    def _outage(self, error: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._down:
                self._down, self._announced, self._down_since = True, False, now
            # A relapse right after a recovery (Redis still loading, a proxy flapping) is the
            # same outage to a reader: stay quiet unless it lasts.
            if self._announced or (
                now - self._restored_at < _QUIET_SECONDS and now - self._down_since < _QUIET_SECONDS
            ):
                return
            self._announced = True
        log.warning("Redis at %s is unreachable (%s); retrying with back-off", self._where, error)

    def _recovered(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down, announced = False, self._announced
            self._restored_at = time.monotonic()
        if announced:
            log.warning("Redis at %s is reachable again", self._where)


def split_url(url: str, options: dict[str, Any]) -> tuple[str, str]:
    """Take stoker's own `prefix` out of the URL query (or options); return (url, prefix)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("redis", "rediss"):
        raise StorageURLError(f"not a Redis URL: {redact_url(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = str(options.pop("prefix", DEFAULT_PREFIX))
    rest = []
    for name, value in query:
        if name == "prefix":
            prefix = value
        else:
            rest.append((name, value))
    if not prefix or any(c in prefix for c in " \r\n*?[]"):
        raise StorageURLError(
            f"invalid Redis key prefix {prefix!r} in {redact_url(url)!r}: use letters, digits, "
            "'-', '_', ':' or a {hash-tag}"
        )
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


def make_retry(url: str, options: dict[str, Any]) -> OutageLoggingRetry:
    """One retry policy (and outage log) shared by every client of a storage."""
    retries = int(options.pop("retries", 8))
    backoff_cap = float(options.pop("backoff_cap", 2.0))
    return OutageLoggingRetry(url, retries, backoff_cap)


class ClosablePool(redis.ConnectionPool):
    """redis-py's connection pool, refusing connections once its storage is closed.

    A closed redis-py client simply reconnects on its next command; stoker's storages all raise
    StorageClosedError instead. Every command, pipeline and script takes its connection here,
    so one flag read there covers them all."""

    closed_message = ""

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self.closed_message:
            raise StorageClosedError(self.closed_message)
        return super().get_connection(*args, **kwargs)


def close_client(client: redis.Redis, message: str) -> None:
    """Disconnect `client`; a pool of ours then refuses every later command (`message`)."""
    pool = client.connection_pool
    if isinstance(pool, ClosablePool):
        pool.closed_message = message
    client.close()
    pool.disconnect()


def connect(
    url: str, options: dict[str, Any], retry: Retry, *, socket_timeout: float | None
) -> redis.Redis:
    """A client with string replies, keep-alive and reconnecting retries."""
    settings: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": 5.0,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry": retry,
    }
    settings.update(options)
    # What redis.Redis.from_url does, with a pool that can refuse use after close().
    single = bool(settings.pop("single_connection_client", False))
    pool = ClosablePool.from_url(url, **settings)
    client = redis.Redis(connection_pool=pool, single_connection_client=single)
    client.auto_close_connection_pool = True
    return client
