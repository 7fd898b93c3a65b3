"""pgqueuer on PostgreSQL (asyncpg): two worker processes as `pgq run` (batch size 10)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import asyncpg
import pgqueuer
from pgqueuer import AsyncpgDriver, Job, PgQueuer, Queries

from benchmarks.peers import jobs
from benchmarks.peers.adapter import AsyncAdapter, storage_url

if TYPE_CHECKING:
    from benchmarks.peers.systems import System


@contextlib.asynccontextmanager
async def factory() -> AsyncIterator[PgQueuer]:
    """The worker, as `pgq run benchmarks.peers.pgqueuer_peer:factory` would build it."""
    connection = await asyncpg.connect(storage_url())
    pgq = PgQueuer(AsyncpgDriver(connection))

    @pgq.entrypoint("noop")
    async def noop(job: Job) -> None:
        await jobs.anoop()

    @pgq.entrypoint("sleep")
    async def sleep(job: Job) -> None:
        await jobs.asleep10()

    @pgq.entrypoint("cpu")
    async def cpu(job: Job) -> None:
        await jobs.aburn5()

    @pgq.entrypoint("latency")
    async def latency(job: Job) -> None:
        await jobs.astarted(int(job.payload or b"0"))

    try:
        yield pgq
    finally:
        await connection.close()


class Peer(AsyncAdapter):
    bulk_api = "queries.enqueue([entrypoint, ...], [payload, ...], [priority, ...])"

    def __init__(self, system: System) -> None:
        super().__init__()
        self.label = "pgqueuer (PostgreSQL)"
        self.connection: asyncpg.Connection | None = None
        self.queries: Queries | None = None

    def config(self) -> str:
        return (
            "2 x `pgqueuer.run(factory)`, what `pgq run` does (defaults: batch size 10, no "
            "concurrency limit, LISTEN/NOTIFY); asyncpg driver; finished jobs moved to a log table"
        )

    def worker_commands(self) -> list[list[str]]:
        # `pgqueuer.run(factory)`, what `pgq run` calls: the CLI itself fails in 1.6.0 with
        # typer 0.29 (its --log-level enum arrives as a str).
        command = [sys.executable, "-m", "benchmarks.peers.pgqueuer_peer"]
        return [command, list(command)]

    async def aopen(self) -> None:
        self.connection = await asyncpg.connect(storage_url())
        self.queries = Queries(AsyncpgDriver(self.connection))
        await self.queries.install()

    async def aclose(self) -> None:
        if self.connection is not None:
            await self.connection.close()

    async def aenqueue(self, kind: str, seq: int = 0) -> None:
        assert self.queries is not None
        payload = str(seq).encode() if kind == "latency" else None
        await self.queries.enqueue(self.job_name(kind), payload)

    async def abulk(self, kind: str, count: int) -> None:
        assert self.queries is not None
        await self.queries.enqueue([self.job_name(kind)] * count, [None] * count, [0] * count)


if __name__ == "__main__":
    asyncio.run(pgqueuer.run(factory))
