"""Scenario fixtures: one storage URL per storage kind, fast server settings, polling helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import stoker

STORAGES = ["sqlite", "postgres", "redis"]
# Short intervals so scenarios take seconds; the semantics are those of the defaults.
FAST = {
    "poll_interval": 0.2,
    "scheduler_interval": 0.1,
    "heartbeat_interval": 0.3,
    "server_timeout": 1.5,
    "cancellation_interval": 0.1,
    "shutdown_timeout": 3.0,
}


@pytest.fixture(params=STORAGES)
def storage_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def app(storage_url: str) -> Iterator[stoker.App]:
    application = stoker.App(storage_url)
    yield application
    application.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; fail the test with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def state_of(app: stoker.App, job_id: str) -> str | None:
    info = app.get_job(job_id)
    return info.state if info else None


def wait_for_state(
    app: stoker.App, job_id: str, state: str, timeout: float = 10.0
) -> stoker.JobInfo:
    wait_for(lambda: state_of(app, job_id) == state, timeout, f"job {job_id} to be {state}")
    info = app.get_job(job_id)
    assert info is not None
    return info
