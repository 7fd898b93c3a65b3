"""Scenario fixtures: one storage URL per storage kind, fast server settings, polling helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stoker
from tests.polling import wait_for

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
