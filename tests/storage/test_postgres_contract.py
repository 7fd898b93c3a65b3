"""The storage contract suite on PostgreSQL, each test in its own schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stoker.storage import open_storage
from stoker.storage.base import Storage
from stoker.testing.contract import StorageContract


class TestPostgresContract(StorageContract):
    @pytest.fixture
    def storage(self, postgres_url: str) -> Iterator[Storage]:
        opened = open_storage(postgres_url)
        yield opened
        opened.close()
