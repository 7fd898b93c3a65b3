"""stoker on SQLite, PostgreSQL or Redis: `app.enqueue`, `app.enqueue_many`, `stoker server`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import stoker
from benchmarks.peers import jobs
from benchmarks.peers.adapter import Adapter, storage_url
from stoker.server.options import DEFAULT_CONCURRENCY, default_workers

if TYPE_CHECKING:
    from benchmarks.peers.systems import System

PROCESSES = 2
THREADS = default_workers()  # stoker's default, as in benchmarks/run.py


def url_of(storage: str) -> str:
    raw = storage_url()
    return f"sqlite:///{raw}" if storage == "sqlite" else raw


class Peer(Adapter):
    bulk_api = "app.enqueue_many(func, [args, ...])"
    async_jobs = True  # `async def` jobs run on each server process's event loop

    def __init__(self, system: System) -> None:
        self.url = url_of(system.storage)
        self.label = f"stoker ({system.storage})"
        self.app = stoker.App(self.url)

    def config(self) -> str:
        return (
            f"`stoker server --processes {PROCESSES} --workers {THREADS}` ({PROCESSES} processes "
            f"x {THREADS} threads for `def` jobs: stoker's default thread count, as in "
            f"benchmarks/run.py; `async def` jobs on each process's event loop, up to "
            f"{DEFAULT_CONCURRENCY} at once, the default); full state history kept; default options"
        )

    def worker_commands(self) -> list[list[str]]:
        return [[
            sys.executable, "-m", "stoker", "--log-level", "ERROR", "server", "--storage",
            self.url, "--processes", str(PROCESSES), "--workers", str(THREADS),
        ]]  # fmt: skip

    def enqueue(self, kind: str, seq: int = 0) -> None:
        if kind == "latency":
            self.app.enqueue(jobs.started, seq)
        else:
            self.app.enqueue(_job(kind))

    def enqueue_bulk(self, kind: str, count: int) -> None:
        self.app.enqueue_many(_job(kind), [()] * count)

    def close(self) -> None:
        self.app.close()


def _job(kind: str) -> Callable[..., Any]:
    """The plain `def` job of a kind; "asleep" is the `async def` one."""
    return jobs.ASYNC[kind] if kind == "asleep" else jobs.SYNC[kind]
