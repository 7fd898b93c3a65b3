"""Celery on Redis: `celery worker` with the prefork pool, concurrency 2 (its default here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import Celery

from benchmarks.peers import jobs
from benchmarks.peers.adapter import Adapter, storage_url, tool

if TYPE_CHECKING:
    from benchmarks.peers.systems import System

app = Celery("bench_peers", broker=storage_url())
app.conf.broker_connection_retry_on_startup = True  # only silences a start-up warning
tasks: dict[str, Any] = {kind: app.task(name=kind)(body) for kind, body in jobs.SYNC.items()}


class Peer(Adapter):
    def __init__(self, system: System) -> None:
        self.label = "Celery (Redis)"

    def config(self) -> str:
        return (
            "`celery worker --pool prefork --concurrency 2` (the defaults: prefork, one child "
            "per core, prefetch multiplier 4); Redis broker, no result backend"
        )

    def worker_commands(self) -> list[list[str]]:
        command = [tool("celery"), "-A", "benchmarks.peers.celery_peer", "worker"]
        return [[*command, "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING"]]

    def enqueue(self, kind: str, seq: int = 0) -> None:
        if kind == "latency":
            tasks[kind].delay(seq)
        else:
            tasks[kind].delay()
