"""RQ on Redis: two `rq worker` processes, forking Worker (default) or SimpleWorker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from redis import Redis
from rq import Queue

from benchmarks.peers import jobs
from benchmarks.peers.adapter import Adapter, storage_url, tool

if TYPE_CHECKING:
    from benchmarks.peers.systems import System


class Peer(Adapter):
    bulk_api = "queue.enqueue_many([Queue.prepare_data(func), ...])"

    def __init__(self, system: System) -> None:
        self.simple = system.id == "rq-simple"
        self.label = "RQ SimpleWorker (Redis)" if self.simple else "RQ Worker (Redis)"
        self.connection = Redis.from_url(storage_url())
        self.queue = Queue("default", connection=self.connection)

    def config(self) -> str:
        kind = "SimpleWorker (runs jobs in the worker)" if self.simple else "Worker (forks per job)"
        return f"2 x `rq worker` ({kind}); defaults otherwise (results kept 500 s)"

    def worker_commands(self) -> list[list[str]]:
        command = [tool("rq"), "worker", "--url", storage_url(), "--quiet"]
        if self.simple:
            command += ["--worker-class", "rq.worker.SimpleWorker"]
        return [command, list(command)]

    def enqueue(self, kind: str, seq: int = 0) -> None:
        if kind == "latency":
            self.queue.enqueue(jobs.started, seq)
        else:
            self.queue.enqueue(jobs.SYNC[kind])

    def enqueue_bulk(self, kind: str, count: int) -> None:
        data = [Queue.prepare_data(jobs.SYNC[kind]) for _ in range(count)]
        self.queue.enqueue_many(data)

    def close(self) -> None:
        self.connection.close()
