"""The SQLite storage passes the storage contract suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stoker.storage import Storage, open_storage
from stoker.testing.contract import StorageContract


class TestSQLiteContract(StorageContract):
    @pytest.fixture
    def storage(self, sqlite_url: str) -> Iterator[Storage]:
        opened = open_storage(sqlite_url)
        yield opened
        opened.close()
