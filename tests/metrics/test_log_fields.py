"""Every server log line carries job id, function, queue and server as `extra` fields."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

import stoker
from stoker.core.log_fields import FIELDS, FUNCTION, JOB_ID, QUEUE, SERVER
from tests.metrics import metrics_jobs
from tests.polling import wait_for

CHATTY = "tests.metrics.metrics_jobs:chatty"
SPIN = "tests.metrics.metrics_jobs:spin"


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    handler = Collect()
    logger = logging.getLogger("stoker")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def fields(record: logging.LogRecord) -> dict[str, str | None]:
    return {name: getattr(record, name) for name in FIELDS}


@pytest.mark.slow
def test_server_log_lines_carry_the_job_and_server_fields(
    app: stoker.App, records: list[logging.LogRecord]
) -> None:
    with app.server(workers=2, queues=["default", "mail"], poll_interval=0.05) as server:
        said = app.with_options(queue="mail").enqueue(metrics_jobs.chatty, "hello")
        slow = app.with_options(timeout=timedelta(seconds=0.2), retries=0).enqueue(
            metrics_jobs.spin, 30.0
        )
        app.wait(said, timeout=30)
        app.wait(slow, timeout=30)
        wait_for(lambda: any("past its timeout" in r.getMessage() for r in records))
    server_lines = [r for r in records if r.name in ("stoker.server", "stoker.worker")]
    job_lines = [r for r in records if r.name == "stoker.job"]
    assert server_lines
    assert job_lines
    for record in [*server_lines, *job_lines]:
        assert record.__dict__.keys() >= set(FIELDS), record.getMessage()
        assert getattr(record, SERVER) == server.id, record.getMessage()

    (logged,) = job_lines
    assert logged.getMessage() == f"job {said}: hello"  # the readable message is unchanged
    assert fields(logged) == {JOB_ID: said, FUNCTION: CHATTY, QUEUE: "mail", SERVER: server.id}
    (timed_out,) = [r for r in server_lines if "past its timeout" in r.getMessage()]
    assert timed_out.getMessage() == f"job {slow} ran past its timeout; interrupting it"
    assert fields(timed_out) == {JOB_ID: slow, FUNCTION: SPIN, QUEUE: "default", SERVER: server.id}
    started = [r for r in server_lines if r.getMessage().startswith(f"server {server.id} started")]
    assert len(started) == 1
    assert fields(started[0]) == {JOB_ID: None, FUNCTION: None, QUEUE: None, SERVER: server.id}


def test_the_field_names_cannot_clash_with_log_record_attributes() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert set(FIELDS).isdisjoint(record.__dict__)
    assert all(name.startswith("stoker_") for name in FIELDS)
