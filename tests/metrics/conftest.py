"""Metrics fixtures: an App on each real storage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import stoker

STORAGES = ["sqlite", "postgres", "redis"]


@pytest.fixture(params=STORAGES)
def any_storage_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def app(any_storage_url: str) -> Iterator[stoker.App]:
    application = stoker.App(any_storage_url)
    yield application
    application.close()
