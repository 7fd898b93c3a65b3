"""SAQ on Redis or PostgreSQL: `saq SETTINGS --workers 2` (asyncio, concurrency 10 each)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from saq import Queue

from benchmarks.peers import jobs
from benchmarks.peers.adapter import AsyncAdapter, storage_url, tool

if TYPE_CHECKING:
    from benchmarks.peers.systems import System


async def noop(ctx: Any) -> None:
    await jobs.anoop()


async def sleep(ctx: Any) -> None:
    await jobs.asleep10()


async def cpu(ctx: Any) -> None:
    await jobs.aburn5()


async def latency(ctx: Any, *, seq: int) -> None:
    await jobs.astarted(seq)


def settings() -> dict[str, Any]:
    """Worker settings, built in the worker process (the CLI accepts a callable)."""
    return {"queue": Queue.from_url(storage_url()), "functions": [noop, sleep, cpu, latency]}


class Peer(AsyncAdapter):
    def __init__(self, system: System) -> None:
        super().__init__()
        self.label = f"SAQ ({system.storage})"
        self.queue = Queue.from_url(storage_url())

    def config(self) -> str:
        return "`saq ... --workers 2` (2 processes; default concurrency 10 jobs per process)"

    def worker_commands(self) -> list[list[str]]:
        return [[tool("saq"), "benchmarks.peers.saq_peer.settings", "--workers", "2"]]

    async def aopen(self) -> None:
        await self.queue.connect()

    async def aclose(self) -> None:
        await self.queue.disconnect()

    async def aenqueue(self, kind: str, seq: int = 0) -> None:
        if kind == "latency":
            await self.queue.enqueue(kind, seq=seq)
        else:
            await self.queue.enqueue(self.job_name(kind))
