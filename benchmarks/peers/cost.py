"""CPU and storage round trips per job of one system's end-to-end no-op run and enqueue loop.

    benchmarks/peers/.venv/bin/python -m benchmarks.peers.cost stoker-redis huey-redis ...

Worker CPU is the user+system time of the worker processes; storage CPU that of every
redis-server or postgres process on the machine (other users of the services add noise);
storage operations are Redis commands (INFO commandstats, server-wide, counting those run
inside Lua scripts) or the transactions and rows written of the measurement's own database.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from benchmarks.peers import jobs, places, procs
from benchmarks.peers.adapter import ROOT, URL_ENV, Adapter, storage_url
from benchmarks.peers.systems import SYSTEMS
from benchmarks.peers.workloads import fill, wait_for


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def storage_processes(storage: str) -> list[psutil.Process]:
    names = {"redis": ("redis-server",), "postgres": ("postgres",), "sqlite": ()}[storage]
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] in names]


def operations(storage: str) -> tuple[int, ...]:
    """Redis: (commands run, including those inside Lua scripts; server-wide);
    PostgreSQL: (transactions, rows written) of the measurement's own database."""
    if storage == "redis":
        import redis

        client = redis.Redis.from_url(storage_url())
        run = sum(int(s["calls"]) for s in client.info("commandstats").values())
        client.close()
        return (run,)
    if storage == "postgres":
        import psycopg

        name = storage_url().rsplit("/", 1)[1]
        query = (
            "SELECT xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted "
            "FROM pg_stat_database WHERE datname = %s"
        )
        with psycopg.connect(f"{places.POSTGRES}/{places.ADMIN_DB}") as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            row = conn.execute(query, (name,)).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)
    return 0, 0


LABELS = {"redis": ("Redis commands",), "postgres": ("transactions", "rows written")}


@contextlib.contextmanager
def counting(storage: str, count: int, what: str) -> Iterator[dict[str, float]]:
    """Per job: storage CPU µs and round trips (the caller fills in worker CPU)."""
    servers = storage_processes(storage)
    cpu, ops, begin = cpu_seconds(servers), operations(storage), time.perf_counter()
    found: dict[str, float] = {}
    yield found
    time.sleep(0.6)  # PostgreSQL's statistics are flushed to shared memory about every 0.5 s
    found["wall µs"] = (time.perf_counter() - begin - 0.6) / count * 1e6
    found["storage µs"] = (cpu_seconds(servers) - cpu) / count * 1e6
    for label, now, then in zip(LABELS.get(storage, ()), operations(storage), ops, strict=False):
        found[label] = (now - then) / count
    shown = ", ".join(f"{key} {value:,.1f}" for key, value in found.items())
    print(f"  {what}: per job {shown}")


def end_to_end(adapter: Adapter, storage: str, count: int, folder: Path) -> None:
    fill(adapter, "noop", count)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (
        counting(storage, count, "end to end (workers)") as found,
        procs.running(adapter.worker_commands(), env, folder / "w.log") as workers,
    ):
        wait_for(workers, os.environ[jobs.MARKS_ENV], count)
        tree = [psutil.Process(c.pid) for c in workers.children]
        tree += [p for t in list(tree) for p in t.children(recursive=True)]
        found["worker CPU µs"] = cpu_seconds(tree) / count * 1e6


def enqueue(adapter: Adapter, storage: str, count: int) -> None:
    adapter.single_loop("noop", 100)
    me = psutil.Process()
    with counting(storage, count, "single enqueue (client)") as found:
        before = cpu_seconds([me])
        adapter.single_loop("noop", count)
        found["client CPU µs"] = (cpu_seconds([me]) - before) / count * 1e6


def main(names: list[str]) -> None:
    if len(names) > 1:  # adapters configure themselves at import: one process per system
        for name in names:
            subprocess.run([sys.executable, "-m", "benchmarks.peers.cost", name], check=False)
        return
    for name in names:
        system = SYSTEMS[name]
        print(name)
        with places.fresh(system.storage, name) as (url, folder):
            os.environ[URL_ENV], os.environ[jobs.MARKS_ENV] = url, str(folder / "marks.bin")
            adapter = system.adapter()
            adapter.setup()
            enqueue(adapter, system.storage, 3_000)
            end_to_end(adapter, system.storage, int(10_000 * system.scale), folder)
            adapter.close()


if __name__ == "__main__":
    main(sys.argv[1:])
