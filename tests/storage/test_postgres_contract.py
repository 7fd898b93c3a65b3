"""The storage contract suite on PostgreSQL, each test in its own schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stoker.core.protocols import Storage
from stoker.storage import open_storage
from stoker.testing.contract import StorageContract


class TestPostgresContract(StorageContract):
    @pytest.fixture
    def storage(self, postgres_url: str) -> Iterator[Storage]:
        opened = open_storage(postgres_url)
        yield opened
        opened.close()
