"""A database outage is announced by a handful of log lines per server, not dozens."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest

import stoker
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.databases import PASSWORD, PrivateDatabase, PrivatePostgres, PrivateRedis
from tests.reliability.servers import FAST_OPTIONS

# What one outage may print per server: the start and the end as the storage driver sees it,
# the same as the server's loops see it, and (PostgreSQL) the notification listener's pair.
MAX_LINES_PER_OUTAGE = 6
SERVER_START = "storage unavailable"
DRIVER_START = re.compile(r"connection problem|is unreachable")
OPTIONS = {**FAST_OPTIONS, "heartbeat_interval": 0.5, "server_timeout": 8.0}


@pytest.fixture(
    params=[
        "postgres",
        "redis",
    ]
)
def database(request: pytest.FixtureRequest) -> Iterator[PrivateDatabase]:
    server: PrivateDatabase = PrivatePostgres() if request.param == "postgres" else PrivateRedis()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_one_outage_is_announced_by_a_few_lines_not_dozens(
    database: PrivateDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    app = stoker.App(database.url)
    with app.server(workers=4, **OPTIONS):
        first = app.enqueue(jobs.noop)
        wait_for(lambda: app.get_job(first).state == "Succeeded", 10, "a first job")  # type: ignore[union-attr]
        caplog.set_level(logging.WARNING)
        database.stop()
        time.sleep(1.5)
        database.start()
        after = wait_for(lambda: _enqueue(app), 30, "enqueue to work again")
        wait_for(lambda: app.get_job(after).state == "Succeeded", 30, "a job after the outage")  # type: ignore[union-attr]
        time.sleep(1.0)
        lines = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
        caplog.set_level(logging.CRITICAL)
    app.close()
    text = "\n".join(lines)
    assert PASSWORD not in text
    assert sum(line.startswith("stoker.server") and SERVER_START in line for line in lines) <= 1
    assert len(DRIVER_START.findall(text)) <= 1, text
    assert len(lines) <= MAX_LINES_PER_OUTAGE, text


def _enqueue(app: stoker.App) -> str | None:
    try:
        return app.enqueue(jobs.noop)
    except Exception:
        return None
