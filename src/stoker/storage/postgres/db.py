"""Connection pool and the retry policy of the PostgreSQL storage across connection loss."""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from stoker.core.errors import StorageClosedError
from stoker.storage.common.urls import redact_url
from stoker.storage.postgres.notify import Listener

logger = logging.getLogger("stoker.storage.postgres")

T = TypeVar("T")
_QUIET_SECONDS = 5.0
Conn = psycopg.Connection[tuple[Any, ...]]


class _DemotePoolWarnings(logging.Filter):
    """psycopg_pool warns for every connection it discards and every failed reconnection
    (dozens of lines per outage per process); stoker announces an outage once itself, so the
    pool's warnings are turned into DEBUG records (kept for whoever debugs the pool)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def _quiet_pool_logger() -> None:
    pool_logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(f, _DemotePoolWarnings) for f in pool_logger.filters):
        pool_logger.addFilter(_DemotePoolWarnings())


def _configure(conn: Conn) -> None:
    # Stored datetimes come back in UTC whatever the server's TimeZone setting is.
    conn.execute("SET TIME ZONE 'UTC'")


class _Phase:
    """Where an attempt got to: a failure while committing leaves the outcome unknown."""

    __slots__ = ("committing",)

    def __init__(self) -> None:
        self.committing = False


class _StaleConnection(Exception):
    """A pooled connection turned out to be closed by the server before we used it."""


def _server_closed(conn: Conn) -> bool:
    """True if the server has already closed this idle connection (found without a round trip).

    An idle connection receives nothing unless the server ends it (restart, admin shutdown,
    idle timeout): a readable socket means a FATAL message or EOF is waiting."""
    if conn.closed or conn.broken:
        return True
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    return bool(readable)


def _is_transient(exc: BaseException) -> bool:
    """Errors worth another attempt: lost connections, restarts, deadlocks, pool timeouts."""
    if isinstance(exc, PoolTimeout):
        return True
    state = getattr(exc, "sqlstate", None)
    if isinstance(exc, psycopg.Error) and state is not None and state.startswith("40"):
        return True  # serialization failure, deadlock: rolled back, worth another go
    if not isinstance(exc, psycopg.OperationalError):
        return False
    return state is None or state.startswith(("08", "57P"))


def _surely_rolled_back(exc: BaseException, committing: bool) -> bool:
    """True when the failed attempt certainly did not commit, so even a non-idempotent
    operation may run again.

    - the pool never handed out a connection (PoolTimeout), or a deadlock/serialisation
      failure rolled the transaction back;
    - the server terminated the session (57P01 admin shutdown, 57P02 crash, 57P03 starting):
      PostgreSQL only acts on such interrupts outside commit, and reports the outcome of a
      commit before it would; the transaction was rolled back;
    - an explicit transaction failed before COMMIT was sent.
    A connection that simply vanished during an autocommit statement or a COMMIT leaves the
    outcome unknown: that is only retried for idempotent operations."""
    if isinstance(exc, PoolTimeout):
        return True
    state = getattr(exc, "sqlstate", None)
    if state is not None and state.startswith(("40", "57P")):
        return True
    return not committing


class PostgresDatabase:
    """A psycopg pool plus `run`, which executes a unit of work with the retry policy."""

    def __init__(
        self,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 5.0,
        attempts: int = 3,
        prepare_threshold: int | None = 5,
    ) -> None:
        self.conninfo = conninfo
        self.display_url = redact_url(conninfo)
        self.attempts = max(1, attempts)
        self.closed = False
        self.closed_message = f"the PostgreSQL storage of {self.display_url} is closed"
        self._down_since: float | None = None
        self._announced = False
        self._restored_at = float("-inf")
        self._state_lock = threading.Lock()
        _quiet_pool_logger()
        self.pool: ConnectionPool[Conn] = ConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            # Give up a reconnection series after a few seconds: a later checkout starts a
            # new series at once, instead of waiting out a long exponential delay.
            reconnect_timeout=max(timeout, 5.0),
            kwargs={"autocommit": True, "prepare_threshold": prepare_threshold},
            configure=_configure,
            name="stoker",
            open=False,
        )
        self.pool.open(wait=False)

    def run(
        self,
        body: Callable[[Conn], T],
        *,
        transaction: bool = False,
        idempotent: bool = True,
    ) -> T:
        """Run `body` with a pooled connection, in a transaction if asked (otherwise each
        statement commits on its own), retrying transient failures when that is safe.

        After `close()` it raises StorageClosedError (a flag read, not a round trip), also for
        a call that was waiting for a pooled connection when another thread closed the pool."""
        if self.closed:
            raise self.closed_error()
        delay = 0.05
        attempt = stale = 0
        while True:
            phase = _Phase()
            try:
                result = self._attempt(body, transaction, phase)
            except _StaleConnection:
                # After a database restart every idle pooled connection is dead: drop them all
                # at once and try again straight away (nothing was sent).
                stale += 1
                if stale > self.pool.max_size + 1:
                    raise psycopg.OperationalError("only closed connections in the pool") from None
                self.pool.check()
                continue
            except Exception as exc:
                if self.closed and isinstance(exc, psycopg.Error):
                    raise self.closed_error() from exc  # PoolClosed, or its connection closed
                attempt += 1
                if not _is_transient(exc):
                    raise
                self._note_failure(exc)
                committing = phase.committing or not transaction
                safe = idempotent or _surely_rolled_back(exc, committing)
                if attempt >= self.attempts or not safe:
                    raise
                time.sleep(delay)
                delay *= 4
                continue
            self._note_success()
            return result

    def _attempt(self, body: Callable[[Conn], T], transaction: bool, phase: _Phase) -> T:
        with self.pool.connection() as conn:
            if _server_closed(conn):
                conn.close()  # the pool discards closed connections when they return
                raise _StaleConnection
            if not transaction:
                return body(conn)
            with conn.transaction():
                result = body(conn)
                phase.committing = True  # leaving the block sends COMMIT
            return result

    def _note_failure(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._state_lock:
            # One outage, one warning: failures while down stay quiet, and so do failures
            # shortly after a recovery (other threads' statements cut by the same restart).
            announce = self._down_since is None and now - self._restored_at > _QUIET_SECONDS
            if self._down_since is None:
                self._down_since = now
                self._announced = announce
        if announce:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            logger.warning(
                "PostgreSQL %s: connection problem (%s: %s); retrying with back-off",
                self.display_url,
                type(exc).__name__,
                first_line,
            )

    def _note_success(self) -> None:
        if self._down_since is None:
            return
        with self._state_lock:
            since, self._down_since = self._down_since, None
            announced, self._announced = self._announced, False
            self._restored_at = time.monotonic()
        if since is not None and announced:
            logger.warning(
                "PostgreSQL %s: connection restored after %.1f s",
                self.display_url,
                self._restored_at - since,
            )

    def closed_error(self) -> StorageClosedError:
        return StorageClosedError(self.closed_message)

    def close(self) -> None:
        self.closed = True
        self.pool.close()


_BIGINT_MAX = 2**63 - 1


def parse_job_id(job_id: str) -> int | None:
    """The integer behind a job id string; None for anything that cannot be one of ours."""
    text = job_id.strip() if isinstance(job_id, str) else ""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= _BIGINT_MAX else None


class PostgresBase:
    """What the parts of PostgresStorage share: the database, the rendered SQL, the listener."""

    _db: PostgresDatabase
    _q: dict[str, str]
    _schema: str
    _listener: Listener

    def _execute(self, name: str, params: dict[str, Any] | None = None) -> None:
        """Run an idempotent statement by name (safe to retry whatever happened)."""
        self._db.run(lambda conn: conn.execute(self._q[name], params))

    def _fetchone(self, name: str, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
        return self._db.run(lambda conn: conn.execute(self._q[name], params).fetchone())

    def _fetchall(self, name: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return self._db.run(lambda conn: conn.execute(self._q[name], params).fetchall())
