"""Dramatiq on Redis (RedisBroker); `dramatiq --processes 2 --threads 8` (its defaults here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware.asyncio import AsyncIO

from benchmarks.peers import jobs
from benchmarks.peers.adapter import Adapter, storage_url, tool

if TYPE_CHECKING:
    from benchmarks.peers.systems import System

broker = RedisBroker(url=storage_url())
broker.add_middleware(AsyncIO())  # runs `async def` actors (on a loop thread of its own)
dramatiq.set_broker(broker)
actors: dict[str, Any] = {
    kind: dramatiq.actor(body, actor_name=kind) for kind, body in jobs.SYNC.items()
}
actors["asleep"] = dramatiq.actor(jobs.ASYNC["asleep"], actor_name="asleep")


class Peer(Adapter):
    async_jobs = True  # with the AsyncIO middleware; each still holds a worker thread

    def __init__(self, system: System) -> None:
        self.label = "Dramatiq (Redis)"

    def config(self) -> str:
        return (
            "`dramatiq --processes 2 --threads 8` (the defaults: one process per core, 8 "
            "threads each); RedisBroker, default middleware plus AsyncIO (for `async def` "
            "actors, which wait in their worker thread), no result backend"
        )

    def worker_commands(self) -> list[list[str]]:
        command = [tool("dramatiq"), "benchmarks.peers.dramatiq_peer"]
        return [[*command, "--processes", "2", "--threads", "8"]]

    def enqueue(self, kind: str, seq: int = 0) -> None:
        if kind == "latency":
            actors[kind].send(seq)
        else:
            actors[kind].send()
