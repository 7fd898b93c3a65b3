"""procrastinate on PostgreSQL: two `procrastinate worker` processes (asyncio, concurrency 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import procrastinate

from benchmarks.peers import jobs
from benchmarks.peers.adapter import AsyncAdapter, storage_url, tool

if TYPE_CHECKING:
    from benchmarks.peers.systems import System

app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=storage_url()))


@app.task(name="noop")
async def noop() -> None:
    await jobs.anoop()


@app.task(name="sleep")
async def sleep() -> None:
    await jobs.asleep10()


@app.task(name="cpu")
async def cpu() -> None:
    await jobs.aburn5()


@app.task(name="latency")
async def latency(seq: int) -> None:
    await jobs.astarted(seq)


TASKS: dict[str, Any] = {"noop": noop, "sleep": sleep, "cpu": cpu, "latency": latency}


class Peer(AsyncAdapter):
    bulk_api = "task.batch_defer_async(*kwargs)"

    def __init__(self, system: System) -> None:
        super().__init__()
        self.label = "procrastinate (PostgreSQL)"

    def config(self) -> str:
        return (
            "2 x `procrastinate worker` (defaults: concurrency 1 per process, LISTEN/NOTIFY "
            "with polling fallback); async tasks; finished jobs kept"
        )

    def worker_commands(self) -> list[list[str]]:
        command = [tool("procrastinate"), "--app", "benchmarks.peers.procrastinate_peer.app"]
        return [[*command, "worker"], [*command, "worker"]]

    async def aopen(self) -> None:
        await app.open_async()
        await app.schema_manager.apply_schema_async()

    async def aclose(self) -> None:
        await app.close_async()

    async def aenqueue(self, kind: str, seq: int = 0) -> None:
        if kind == "latency":
            await TASKS[kind].defer_async(seq=seq)
        else:
            await TASKS[self.job_name(kind)].defer_async()

    async def abulk(self, kind: str, count: int) -> None:
        await TASKS[self.job_name(kind)].batch_defer_async(*[{}] * count)
