"""The workloads, defined as in benchmarks/measure.py, run against any adapter."""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.peers import jobs, procs
from benchmarks.peers.adapter import Adapter

WARM_UP = 100
BULK_CHUNK = 10_000
STALL = 60.0  # seconds without progress before a run counts as failed


@dataclass(frozen=True)
class Sizes:
    single: int = 3_000
    bulk: int = 30_000
    noop: int = 10_000
    sleep: int = 1_000
    asleep: int = 10_000
    cpu: int = 1_000
    latency: int = 200
    interval: float = 0.02

    @classmethod
    def quick(cls) -> Sizes:
        return cls(single=300, bulk=2_000, noop=500, sleep=100, asleep=500, cpu=100, latency=20)

    def scaled(self, share: float) -> Sizes:
        """End-to-end counts times `share` (at least 100 jobs)."""
        noop, sleep, asleep, cpu = (
            max(100, int(n * share)) for n in (self.noop, self.sleep, self.asleep, self.cpu)
        )
        return dataclasses.replace(self, noop=noop, sleep=sleep, asleep=asleep, cpu=cpu)


def single(adapter: Adapter, count: int) -> dict[str, float]:
    """Jobs/s of enqueueing one job per call, after a warm-up."""
    adapter.single_loop("noop", min(WARM_UP, count))
    return {"rate": count / adapter.single_loop("noop", count)}


def bulk(adapter: Adapter, count: int) -> dict[str, float]:
    """Jobs/s of the system's bulk enqueue, in calls of up to 10,000 jobs."""
    adapter.enqueue_bulk("noop", min(WARM_UP, count))
    calls = [min(BULK_CHUNK, count - start) for start in range(0, count, BULK_CHUNK)]
    begin = time.perf_counter()
    for size in calls:
        adapter.enqueue_bulk("noop", size)
    return {"rate": count / (time.perf_counter() - begin)}


def fill(adapter: Adapter, kind: str, count: int) -> None:
    """Store `count` jobs before the workers start (bulk where the system has it)."""
    if adapter.bulk_api is None:
        adapter.single_loop(kind, count)
        return
    for start in range(0, count, BULK_CHUNK):
        adapter.enqueue_bulk(kind, min(BULK_CHUNK, count - start))


def wait_for(workers: procs.Workers, marks: str, count: int) -> None:
    seen, progress = -1, time.monotonic()
    while (now := jobs.count(marks)) < count:
        if now != seen:
            seen, progress = now, time.monotonic()
        elif time.monotonic() - progress > STALL:
            log = workers.tail()
            stalled = f"stalled at {now:,}/{count:,} jobs for {STALL:.0f} s"
            raise TimeoutError(stalled + (f"; worker log: {log}" if log else ""))
        workers.check()
        time.sleep(0.05)


def end_to_end(adapter: Adapter, kind: str, count: int, env: dict[str, str]) -> dict[str, float]:
    """Jobs/s from the first job's start to the last job's end, workers started after the
    jobs were stored; and the workers' peak memory meanwhile."""
    fill(adapter, kind, count)
    marks = env[jobs.MARKS_ENV]
    with procs.running(adapter.worker_commands(), env, Path(marks + ".log")) as workers:
        wait_for(workers, marks, count)
        peak = workers.peak_mib
    records = jobs.read(marks)
    if len(records) != count:
        raise RuntimeError(f"{len(records):,} jobs ran, expected {count:,}")
    first = min(start for start, _ in records)
    last = max(end for _, end in records)
    return {"rate": count / (last - first), "memory": peak}


def latency(adapter: Adapter, count: int, interval: float, env: dict[str, str]) -> dict[str, float]:
    """Milliseconds from calling enqueue to the job starting, one job every `interval` s."""
    marks = env[jobs.MARKS_ENV]
    with procs.running(adapter.worker_commands(), env, Path(marks + ".log")) as workers:
        adapter.paced(5, interval, first=-5)  # warm-up: connections, workers up
        wait_for(workers, marks, 5)
        called = adapter.paced(count, interval)
        wait_for(workers, marks, 5 + count)
    started = {int(seq): at for seq, at in jobs.read(marks) if seq >= 0}
    values = sorted((started[seq] - at) * 1000 for seq, at in enumerate(called))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


def clear_marks(env: dict[str, str]) -> None:
    path = env[jobs.MARKS_ENV]
    if os.path.exists(path):
        os.remove(path)
