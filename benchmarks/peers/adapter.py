"""What every system adapter provides: enqueue one job, maybe a bulk enqueue, worker commands."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
URL_ENV = "PEERS_URL"
KINDS = ("noop", "sleep", "cpu", "latency", "asleep")


def storage_url() -> str:
    """The storage this measurement uses (set by `one.py` before it imports an adapter)."""
    return os.environ[URL_ENV]


def tool(name: str) -> str:
    """A console script of the peers' virtual environment."""
    return str(BIN / name)


class Adapter(ABC):
    """One system on one storage. Job kinds: noop, sleep, cpu, latency (latency takes a seq)."""

    label: str = ""
    bulk_api: str | None = None  # the call used for bulk enqueue, if the system has one
    # Whether the system runs `async def` jobs (kind "asleep": await asyncio.sleep(0.01)).
    async_jobs: bool = False

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Create schemas or connections; called once before any enqueue."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    def config(self) -> str:
        """The configuration, as printed in the report."""

    @abstractmethod
    def worker_commands(self) -> list[list[str]]:
        """Commands that start the workers (together: two worker processes)."""

    @abstractmethod
    def enqueue(self, kind: str, seq: int = 0) -> None: ...

    def enqueue_bulk(self, kind: str, count: int) -> None:
        """Only called where `bulk_api` names the system's bulk call (see one.py)."""
        raise TypeError(f"{type(self).__name__} has no bulk enqueue (bulk_api is None)")

    def single_loop(self, kind: str, count: int) -> float:
        """Seconds taken to enqueue `count` jobs one call at a time."""
        begin = time.perf_counter()
        for _ in range(count):
            self.enqueue(kind)
        return time.perf_counter() - begin

    def paced(self, count: int, interval: float, first: int = 0) -> list[float]:
        """Enqueue latency jobs seq first.. every `interval` s; the time.time() of each call."""
        called: list[float] = []
        origin = time.perf_counter()
        for index in range(count):
            delay = origin + index * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            called.append(time.time())
            self.enqueue("latency", first + index)
        return called


class AsyncAdapter(Adapter):
    """A system whose client is asyncio-native: the loops run inside one event loop. Its jobs
    are all `async def`, so kind "asleep" is its "sleep" job (see `job_name`)."""

    async_jobs = True

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def setup(self) -> None:
        self.runner.run(self.aopen())

    def close(self) -> None:
        try:
            self.runner.run(self.aclose())
        finally:
            self.runner.close()

    @staticmethod
    def job_name(kind: str) -> str:
        """The entry point a kind runs: every job of an async system is `async def` already."""
        return "sleep" if kind == "asleep" else kind

    async def aopen(self) -> None:
        """Connect and create schemas."""

    async def aclose(self) -> None:
        """Disconnect."""

    @abstractmethod
    async def aenqueue(self, kind: str, seq: int = 0) -> None: ...

    async def abulk(self, kind: str, count: int) -> None:
        """Only called where `bulk_api` names the system's bulk call (see one.py)."""
        raise TypeError(f"{type(self).__name__} has no bulk enqueue (bulk_api is None)")

    def enqueue(self, kind: str, seq: int = 0) -> None:
        self.runner.run(self.aenqueue(kind, seq))

    def enqueue_bulk(self, kind: str, count: int) -> None:
        self.runner.run(self.abulk(kind, count))

    def single_loop(self, kind: str, count: int) -> float:
        async def loop() -> float:
            begin = time.perf_counter()
            for _ in range(count):
                await self.aenqueue(kind)
            return time.perf_counter() - begin

        return self.runner.run(loop())

    def paced(self, count: int, interval: float, first: int = 0) -> list[float]:
        async def loop() -> list[float]:
            called: list[float] = []
            origin = time.perf_counter()
            for index in range(count):
                delay = origin + index * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                called.append(time.time())
                await self.aenqueue("latency", first + index)
            return called

        return self.runner.run(loop())
