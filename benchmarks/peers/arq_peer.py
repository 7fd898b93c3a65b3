"""arq on Redis: two `arq WorkerSettings` processes (asyncio, max_jobs 10, poll_delay 0.5 s)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import func

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


async def latency(ctx: Any, seq: int) -> None:
    await jobs.astarted(seq)


class WorkerSettings:
    """Read by the `arq` command; defaults otherwise."""

    functions: ClassVar[list[Any]] = [func(f, name=f.__name__) for f in (noop, sleep, cpu, latency)]
    redis_settings = RedisSettings.from_dsn(storage_url())


class Peer(AsyncAdapter):
    def __init__(self, system: System) -> None:
        super().__init__()
        self.label = "arq (Redis)"
        self.redis: ArqRedis | None = None

    def config(self) -> str:
        return (
            "2 x `arq WorkerSettings` (defaults: max_jobs 10 per process, poll_delay 0.5 s, "
            "results kept 1 h)"
        )

    def worker_commands(self) -> list[list[str]]:
        command = [tool("arq"), "benchmarks.peers.arq_peer.WorkerSettings"]
        return [command, list(command)]

    async def aopen(self) -> None:
        self.redis = await create_pool(RedisSettings.from_dsn(storage_url()))

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

    async def aenqueue(self, kind: str, seq: int = 0) -> None:
        assert self.redis is not None
        if kind == "latency":
            await self.redis.enqueue_job(kind, seq)
        else:
            await self.redis.enqueue_job(self.job_name(kind))
