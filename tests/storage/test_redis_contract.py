"""The storage contract suite on Redis, each test in its own key prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stoker.storage import open_storage
from stoker.storage.base import Storage
from stoker.testing.contract import StorageContract


class TestRedisContract(StorageContract):
    @pytest.fixture
    def storage(self, redis_url: str) -> Iterator[Storage]:
        opened = open_storage(redis_url)
        yield opened
        opened.close()
