"""Dashboard fixtures: an App on a real storage with a fake clock, and a local TestClient."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

# Starlette 1.x suggests httpx2 for its TestClient; httpx is what we have and it works.
warnings.filterwarnings("ignore", message=r".*httpx.*starlette\.testclient", category=Warning)
from starlette.testclient import TestClient  # noqa: E402

import stoker  # noqa: E402
from stoker.dashboard import create_app  # noqa: E402
from stoker.testing.clock import FakeClock  # noqa: E402
from tests.dashboard.helpers import LOCAL, LOCAL_URL  # noqa: E402


@pytest.fixture
def app(redis_url: str) -> Iterator[stoker.App]:
    """Most tests need one storage: Redis (fast to set up and tear down). The smoke tests run
    on all three."""
    application = stoker.App(redis_url, clock=FakeClock())
    yield application
    application.close()


@pytest.fixture
def client(app: stoker.App) -> Iterator[TestClient]:
    with TestClient(
        create_app(app), client=LOCAL, base_url=LOCAL_URL, follow_redirects=False
    ) as test_client:
        yield test_client
