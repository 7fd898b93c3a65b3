"""Huey on Redis (RedisHuey) or SQLite (SqliteHuey); `huey_consumer -k process -w 2`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from huey import Huey, RedisHuey, SqliteHuey

from benchmarks.peers import jobs
from benchmarks.peers.adapter import Adapter, storage_url, tool

if TYPE_CHECKING:
    from benchmarks.peers.systems import System


def make_huey() -> Huey:
    where = storage_url()
    if where.startswith("redis://"):
        return RedisHuey("bench-peers", url=where)
    return SqliteHuey("bench-peers", filename=where)


huey = make_huey()
tasks: dict[str, Any] = {kind: huey.task(name=kind)(body) for kind, body in jobs.SYNC.items()}


class Peer(Adapter):
    def __init__(self, system: System) -> None:
        self.label = f"Huey ({system.storage})"

    def config(self) -> str:
        return (
            "`huey_consumer -k process -w 2` (process workers for 2 cores; defaults otherwise: "
            "-d 0.1 s initial poll delay, backoff 1.15 to 10 s, results stored when not None; "
            "Redis storage blocks on BRPOP)"
        )

    def worker_commands(self) -> list[list[str]]:
        module = "benchmarks.peers.huey_peer.huey"
        return [[tool("huey_consumer"), module, "-k", "process", "-w", "2", "-q"]]

    def enqueue(self, kind: str, seq: int = 0) -> None:
        if kind == "latency":
            tasks[kind](seq)
        else:
            tasks[kind]()
