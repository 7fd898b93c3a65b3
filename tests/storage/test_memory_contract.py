"""The in-memory storage passes the storage contract suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stoker.storage import Storage, open_storage
from stoker.testing.contract import StorageContract


class TestMemoryContract(StorageContract):
    # Private data, and data shared by name (this test's own name).
    @pytest.fixture(params=["private", "named"])
    def storage(self, request: pytest.FixtureRequest) -> Iterator[Storage]:
        url = request.getfixturevalue("memory_url") if request.param == "named" else "memory://"
        opened = open_storage(url)
        yield opened
        opened.close()
