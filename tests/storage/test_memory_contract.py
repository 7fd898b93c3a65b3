"""The in-memory storage passes the storage contract suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stoker.storage import Storage, open_storage
from stoker.testing.contract import StorageContract


class TestMemoryContract(StorageContract):
    @pytest.fixture
    def storage(self) -> Iterator[Storage]:
        opened = open_storage("memory://")
        yield opened
        opened.close()
