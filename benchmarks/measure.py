"""What the benchmark measures on stoker itself: enqueue rates, throughput and latency."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import stoker
from benchmarks import jobs
from stoker.core.protocols import Storage

ROOT = Path(__file__).resolve().parents[1]
BULK_CHUNK = 10_000
WARM_UP = 100


def single_enqueue(url: str, count: int) -> float:
    """`app.enqueue(noop)` in a loop, after a warm-up (connections, prepared statements)."""
    with stoker.App(url) as app:
        for _ in range(min(WARM_UP, count)):
            app.enqueue(jobs.noop)
        begin = time.perf_counter()
        for _ in range(count):
            app.enqueue(jobs.noop)
        return count / (time.perf_counter() - begin)


def bulk_enqueue(url: str, count: int, batch: int) -> float:
    """`app.enqueue_many(noop, [()] * batch)` until `count` jobs are stored."""
    with stoker.App(url) as app:
        app.enqueue_many(jobs.noop, [()] * min(WARM_UP, count))
        calls = [[()] * min(batch, count - start) for start in range(0, count, batch)]
        begin = time.perf_counter()
        for call in calls:
            app.enqueue_many(jobs.noop, call)
        return count / (time.perf_counter() - begin)


@contextlib.contextmanager
def server_process(url: str, workers: int, processes: int = 1) -> Iterator[subprocess.Popen[bytes]]:
    """`stoker server` as a child process (its own session, so its children stop with it)."""
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [
        sys.executable, "-m", "stoker", "--log-level", "ERROR", "server",
        "--storage", url, "--workers", str(workers), "--processes", str(processes),
    ]  # fmt: skip
    child = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "PYTHONPATH": pythonpath}, start_new_session=True
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # graceful: the parent forwards it to its children
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def wait_until(done: Callable[[], bool], timeout: float, what: str, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def succeeded(storage: Storage, count: int) -> Callable[[], bool]:
    def check() -> bool:
        counts = storage.count_by_state()
        if counts["Failed"]:
            raise RuntimeError(f"{counts['Failed']} benchmark job(s) failed: {counts}")
        return counts["Succeeded"] >= count

    return check


def throughput(url: str, count: int, workers: int, processes: int) -> float:
    """Jobs/s of `stoker server --processes P --workers W` working off `count` no-op jobs
    enqueued beforehand: from the first job's start (Processing) to the last Succeeded."""
    with stoker.App(url) as app:
        for start in range(0, count, BULK_CHUNK):
            app.enqueue_many(jobs.noop, [()] * min(BULK_CHUNK, count - start))
        with server_process(url, workers, processes):
            wait_until(succeeded(app.storage, count), max(120.0, count / 50), "jobs", 0.1)
        first, last = job_span(app.storage, probe=4 * workers * processes)
        return count / (last - first).total_seconds()


def job_span(storage: Storage, probe: int) -> tuple[datetime, datetime]:
    """(first start, last success), read from the stored history. The first job to start is
    among the first `probe` to succeed, since at most workers x processes run at once."""
    last = storage.list_jobs("Succeeded", limit=1, newest_first=True)[0].state.created_at
    starts = []
    for record in storage.list_jobs("Succeeded", limit=probe, newest_first=False):
        details = storage.job_details(record.id)
        assert details is not None
        starts += [entry.created_at for entry in details.history if entry.name == "Processing"]
    return min(starts), last


def latency(
    url: str, count: int, interval: float, embedded: bool, workers: int
) -> tuple[list[float], list[float]]:
    """Milliseconds from calling `app.enqueue` to the job function starting, for one job every
    `interval` seconds, with the server in this process (`app.server()`) or in another one;
    and the same counted from the moment `app.enqueue` returned (the job was stored)."""
    with stoker.App(url) as app:
        server = app.server(workers=workers) if embedded else server_process(url, workers)
        with server:
            # Warm-up: connections, imports, and (separate process) the server being up.
            for _ in range(5):
                app.enqueue(jobs.started_at)
            wait_until(succeeded(app.storage, 5), 60.0, "the server to start")
            sent: list[tuple[str, float, float]] = []
            origin = time.perf_counter()
            for index in range(count):
                delay = origin + index * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                called = time.time()
                job_id = app.enqueue(jobs.started_at)
                sent.append((job_id, called, time.time()))
            wait_until(succeeded(app.storage, 5 + count), 60.0, "the latency jobs")
        from_call, from_return = [], []
        for job_id, called, returned in sent:
            info = app.get_job(job_id)
            assert info is not None
            assert isinstance(info.result, float)
            from_call.append((info.result - called) * 1000)
            from_return.append((info.result - returned) * 1000)
        return from_call, from_return
