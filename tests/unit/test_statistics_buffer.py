"""The statistics a server folds in memory: merged per key, and kept when a write fails."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from stoker.core.counters import CounterBuffer
from stoker.core.records import CounterIncrement
from stoker.server.background import write_statistics

LATER = datetime(2036, 3, 2, tzinfo=UTC)
EARLIER = datetime(2036, 3, 1, tzinfo=UTC)


def test_increments_are_merged_per_key_with_the_later_expiry() -> None:
    buffer = CounterBuffer()
    buffer.add([CounterIncrement("a"), CounterIncrement("h", 2, EARLIER)])
    buffer.add([CounterIncrement("a", 3), CounterIncrement("h", 1, LATER)])
    assert sorted(buffer.drain(), key=lambda inc: inc.key) == [
        CounterIncrement("a", 4),
        CounterIncrement("h", 3, LATER),
    ]
    assert buffer.drain() == []  # drained


class FlakyStorage:
    def __init__(self) -> None:
        self.failures = 1
        self.written: list[list[CounterIncrement]] = []

    def add_counters(self, increments: list[CounterIncrement]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("storage away")
        self.written.append(list(increments))


def test_counts_whose_write_failed_go_with_the_next_write() -> None:
    storage = FlakyStorage()
    server: Any = SimpleNamespace(counters=CounterBuffer(), storage=storage)
    server.counters.add([CounterIncrement("stats:succeeded", 2)])
    with pytest.raises(ConnectionError):
        write_statistics(server)
    server.counters.add([CounterIncrement("stats:succeeded")])
    write_statistics(server)
    write_statistics(server)  # nothing left: no call
    assert storage.written == [[CounterIncrement("stats:succeeded", 3)]]
