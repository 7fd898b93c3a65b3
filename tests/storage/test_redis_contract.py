"""The storage contract suite on Redis, each test in its own key prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stoker.core.protocols import Storage
from stoker.storage import open_storage
from stoker.storage.redis import due as redis_due
from stoker.testing.contract import StorageContract
from stoker.testing.contract_monitor import DueOrderContract


class TestRedisContract(StorageContract):
    @pytest.fixture
    def storage(self, redis_url: str) -> Iterator[Storage]:
        opened = open_storage(redis_url)
        yield opened
        opened.close()


class TestRedisDueOrderInSmallChunks(DueOrderContract):
    """A queue filter of by_due pages walks the schedule in chunks: here of 2 and 3 jobs, so
    chunk boundaries fall inside tie groups and pages span several chunks."""

    @pytest.fixture(params=[2, 3])
    def storage(
        self, redis_url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[Storage]:
        monkeypatch.setattr(redis_due, "SCAN_CHUNK", request.param)
        opened = open_storage(redis_url)
        yield opened
        opened.close()
