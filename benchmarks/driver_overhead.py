"""Client CPU per storage call, sync drivers against their asyncio twins (psycopg, redis-py).

The question it answers for the server's design: would moving the fetch/finish pipeline onto
the event loop with the drivers' async APIs (psycopg's AsyncConnection, redis.asyncio) make
a server process cheaper per job? A server is CPU-bound in Python under load, so what counts
is the client CPU each storage call costs. Each way makes the same calls with the same
concurrency (10 threads with a connection each, or 10 tasks on one loop with a connection
each) and reports CPU microseconds of this process per call and calls per second, as medians
over several rounds, alternating the ways.

    .venv/bin/python benchmarks/driver_overhead.py [--pg URL] [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import redis
import redis.asyncio

CONCURRENCY = 10  # --concurrency
# A read as small as a claim check; the statement stoker's supervisor runs most often.
PG_QUERY = "SELECT %s::bigint + 1"
REDIS_SCRIPT = "return redis.call('HGET', KEYS[1], 's')"


@dataclass(frozen=True)
class Figure:
    cpu_us_per_call: float
    calls_per_s: float


def measured(run: Callable[[], None], calls: int) -> Figure:
    cpu, wall = time.process_time(), time.perf_counter()
    run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Figure(cpu / calls * 1e6, calls / wall)


def in_threads(make_call: Callable[[], Callable[[], object]], per_worker: int) -> None:
    def work() -> None:
        call = make_call()
        for _ in range(per_worker):
            call()

    threads = [threading.Thread(target=work) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def pg_sync(url: str, per_worker: int) -> None:
    connections = [psycopg.connect(url, autocommit=True) for _ in range(CONCURRENCY)]
    pool = iter(connections)

    def make_call() -> Callable[[], object]:
        conn = next(pool)
        return lambda: conn.execute(PG_QUERY, (1,)).fetchone()

    try:
        in_threads(make_call, per_worker)
    finally:
        for conn in connections:
            conn.close()


async def pg_async(url: str, per_worker: int) -> None:
    connections = [
        await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(CONCURRENCY)
    ]

    async def work(conn: psycopg.AsyncConnection[object]) -> None:
        for _ in range(per_worker):
            await (await conn.execute(PG_QUERY, (1,))).fetchone()

    try:
        await asyncio.gather(*(work(conn) for conn in connections))
    finally:
        for conn in connections:
            await conn.close()


def redis_sync(url: str, per_worker: int) -> None:
    client = redis.Redis.from_url(url, max_connections=CONCURRENCY)
    script = client.register_script(REDIS_SCRIPT)
    try:
        in_threads(lambda: lambda: script(keys=["bench-driver:job"]), per_worker)
    finally:
        client.close()


async def redis_async(url: str, per_worker: int) -> None:
    client = redis.asyncio.Redis.from_url(url, max_connections=CONCURRENCY)
    script = client.register_script(REDIS_SCRIPT)

    async def work() -> None:
        for _ in range(per_worker):
            await script(keys=["bench-driver:job"])

    try:
        await asyncio.gather(*(work() for _ in range(CONCURRENCY)))
    finally:
        await client.aclose()


def main() -> None:
    global CONCURRENCY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=500, help="per worker and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=10)
    options = parser.parse_args()
    CONCURRENCY = options.concurrency
    calls = options.calls * CONCURRENCY
    ways: dict[str, Callable[[], None]] = {
        f"psycopg, {CONCURRENCY} threads": lambda: pg_sync(options.pg, options.calls),
        f"psycopg async, {CONCURRENCY} tasks": lambda: asyncio.run(
            pg_async(options.pg, options.calls)
        ),
        f"redis-py, {CONCURRENCY} threads": lambda: redis_sync(options.redis, options.calls),
        f"redis.asyncio, {CONCURRENCY} tasks": lambda: asyncio.run(
            redis_async(options.redis, options.calls)
        ),
    }
    figures: dict[str, list[Figure]] = {way: [] for way in ways}
    for _ in range(options.rounds):
        for way, run in ways.items():
            figures[way].append(measured(run, calls))
    for way, runs in figures.items():
        cpu = statistics.median(figure.cpu_us_per_call for figure in runs)
        rate = statistics.median(figure.calls_per_s for figure in runs)
        print(f"{way:<26} {cpu:6.1f} us CPU/call  {rate:8,.0f} calls/s")
    print(f"(medians of {options.rounds} rounds x {calls} calls; connections opened per round)")


if __name__ == "__main__":
    main()
