"""The PostgreSQL storage's retry policy: what is retried after a connection problem, and when."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from stoker.storage.postgres.db import Conn, PostgresDatabase


@pytest.fixture
def database(postgres_url: str) -> Iterator[PostgresDatabase]:
    db = PostgresDatabase(postgres_url.partition("?")[0], max_size=3, timeout=2.0, attempts=3)
    yield db
    db.close()


class Flaky:
    """A unit of work that fails with `error` the first `failures` times it runs."""

    def __init__(self, error: Exception, failures: int = 1) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    def __call__(self, conn: Conn) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        row = conn.execute("SELECT 42").fetchone()
        return int(row[0]) if row else 0


def test_terminated_session_is_retried_even_for_non_idempotent_work(
    database: PostgresDatabase,
) -> None:
    # 57P01: the server ended the session, which rolls back whatever was running.
    work = Flaky(errors.AdminShutdown("terminating connection due to administrator command"))
    assert database.run(work, idempotent=False) == 42
    assert work.calls == 2


def test_lost_connection_with_unknown_outcome_is_not_retried_for_non_idempotent_work(
    database: PostgresDatabase,
) -> None:
    work = Flaky(psycopg.OperationalError("server closed the connection unexpectedly"))
    with pytest.raises(psycopg.OperationalError):
        database.run(work, idempotent=False)
    assert work.calls == 1


def test_lost_connection_before_commit_of_a_transaction_is_retried(
    database: PostgresDatabase,
) -> None:
    work = Flaky(psycopg.OperationalError("server closed the connection unexpectedly"))
    assert database.run(work, transaction=True, idempotent=False) == 42
    assert work.calls == 2


def test_idempotent_work_is_retried_until_the_attempts_run_out(database: PostgresDatabase) -> None:
    work = Flaky(psycopg.OperationalError("connection refused"), failures=5)
    with pytest.raises(psycopg.OperationalError):
        database.run(work)
    assert work.calls == 3


def test_deadlocks_are_retried(database: PostgresDatabase) -> None:
    work = Flaky(errors.DeadlockDetected("deadlock detected"))
    assert database.run(work, idempotent=False) == 42


def test_errors_of_the_statement_itself_are_never_retried(database: PostgresDatabase) -> None:
    work = Flaky(errors.UniqueViolation("duplicate key"))
    with pytest.raises(errors.UniqueViolation):
        database.run(work)
    assert work.calls == 1


def test_a_pooled_connection_closed_by_the_server_is_replaced_silently(
    database: PostgresDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="stoker.storage.postgres")
    pid = database.run(lambda conn: conn.info.backend_pid)
    with psycopg.connect(database.conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.2)  # the FATAL message reaches the idle socket
    work = Flaky(RuntimeError("unused"), failures=0)
    # Not even a non-idempotent statement is at risk: the dead connection is found before use.
    assert database.run(work, idempotent=False) == 42
    assert work.calls == 1
    assert "connection problem" not in caplog.text


def test_an_outage_is_logged_once_and_its_end_once(
    database: PostgresDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="stoker.storage.postgres")
    work = Flaky(psycopg.OperationalError("connection refused"), failures=2)
    assert database.run(work) == 42
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "connection problem" in warnings[0]
    assert "connection restored" in warnings[1]
