"""Unit-test fixtures: an App on every storage with a fake clock, and a way to run one attempt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stoker
from stoker.core.records import FetchedJob
from stoker.server.worker import failed_state
from stoker.testing.clock import FakeClock

STORAGES = ["sqlite", "postgres", "redis"]


@pytest.fixture(params=STORAGES)
def any_storage_url(request: pytest.FixtureRequest) -> str:
    """A fresh storage URL of each kind (sqlite file, postgres schema, redis prefix)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(any_storage_url: str, clock: FakeClock) -> Iterator[stoker.App]:
    application = stoker.App(any_storage_url, clock=clock)
    yield application
    application.close()


def total_jobs(app: stoker.App) -> int:
    return sum(app.storage.count_by_state().values())


def fetch(app: stoker.App, queue: str = "default") -> FetchedJob:
    """Claim the next job into Processing as a worker would (no server needed)."""
    fetched = app.storage.fetch_next([queue], "server-1", "worker-1", app.clock.now())
    assert fetched is not None, f"no job on queue {queue!r}"
    return fetched


def fail_attempt(app: stoker.App, fetched: FetchedJob, exc: BaseException) -> bool:
    """Record `exc` for a Processing job exactly as a worker does (filters elect the outcome)."""
    return app.state_machine.change(
        fetched.id,
        failed_state(exc),
        expected_states=("Processing",),
        expected_state_id=fetched.state_id,
        function=fetched.function,
        queue=fetched.queue,
        params=fetched.params,
        exception=exc,
    )
