"""Job functions the scenario tests enqueue; importable by servers in other processes."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import stoker


def add(a: int, b: int) -> int:
    return a + b


@stoker.job(unique=True)
def sync_account(account: int, *, full: bool = False, dry: bool = False) -> int:
    """A unique job: one per account and options while one is unfinished."""
    return account


def fail(message: str) -> None:
    raise ValueError(message)


def sleep_for(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def record_run(marker_dir: str, name: str, seconds: float = 0.0) -> str:
    """Sleep, then append a line to a file per job, so tests can count how often it ran."""
    time.sleep(seconds)
    with Path(marker_dir, name).open("a") as handle:
        handle.write(f"{os.getpid()}\n")
    return name


def wait_until_cancelled(limit: float) -> str:
    context = stoker.current_job()
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if context.cancelled:
            return "noticed cancellation"
        context.progress(0.5)
        time.sleep(0.02)
    return "never cancelled"


async def async_sleep(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


def busy_loop(seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "finished"


def with_progress_and_log() -> str:
    context = stoker.current_job()
    context.progress(0.25)
    context.log("first step done")
    context.progress(1.0)
    context.log("all done")
    return context.id


def crash_process() -> None:
    os._exit(13)


def swallow_exceptions(seconds: float) -> str:
    """Sleeps in small steps for `seconds`, catching every Exception (as careless code does)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except Exception:
            pass
    return "finished anyway"


def swallow_everything(seconds: float) -> str:
    """Like swallow_exceptions, but catches BaseException: even a timeout cannot stop it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except BaseException:  # the point of this job
            pass
    return "finished anyway"


def fail_first_run(marker_dir: str, name: str) -> str:
    """Raises on its first run (a marker file remembers it), succeeds on the next one."""
    marker = Path(marker_dir, name)
    if not marker.exists():
        marker.write_text("ran once")
        raise ConnectionError("first run fails")
    return "second run"


def log_until_stopped(limit: int) -> int:
    """Writes numbered log lines as fast as it can (its timeout stops it)."""
    context = stoker.current_job()
    for number in range(limit):
        context.log(f"line {number}")
    return limit


_gathered: dict[str, int] = {}
_gathering = threading.Condition()


def gather(key: str, count: int, limit: float = 5.0) -> str:
    """Waits until `count` jobs with this key run at once (or `limit` seconds passed), so that
    they finish at the same moment: their workers' next steps then meet in one batch."""
    with _gathering:
        _gathered[key] = _gathered.get(key, 0) + 1
        _gathering.notify_all()
        _gathering.wait_for(lambda: _gathered[key] >= count, timeout=limit)
    return key


# Async jobs that meet each other: each counts itself in under `key` and waits (on the event
# loop, holding no thread) until `expected` jobs have, so they succeed only if all of them
# run at the same time. Module state: the embedded server runs them in the test's process.
_arrived: dict[str, int] = {}
_in_flight: dict[str, int] = {}
_most_in_flight: dict[str, int] = {}


async def async_rendezvous(key: str, expected: int, limit: float) -> int:
    _arrived[key] = _arrived.get(key, 0) + 1
    deadline = time.monotonic() + limit
    while _arrived[key] < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {_arrived[key]} of {expected} jobs ran at once")
        await asyncio.sleep(0.01)
    return _arrived[key]


async def async_counted_sleep(key: str, seconds: float) -> int:
    """Sleep, noting the most jobs of `key` that were in flight at once."""
    _in_flight[key] = _in_flight.get(key, 0) + 1
    _most_in_flight[key] = max(_most_in_flight.get(key, 0), _in_flight[key])
    try:
        await asyncio.sleep(seconds)
    finally:
        _in_flight[key] -= 1
    return _most_in_flight[key]


def most_in_flight(key: str) -> int:
    return _most_in_flight.get(key, 0)


async def async_with_progress_and_log() -> str:
    context = stoker.current_job()
    context.progress(0.5)
    await asyncio.sleep(0.01)
    context.log("awaited")
    context.progress(1.0)
    return context.id


async def async_exit(code: int) -> None:
    await asyncio.sleep(0)
    raise SystemExit(code)


async def async_self_reference() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


def log_run(marker_dir: str, name: str, seconds: float) -> str:
    """Append "start NAME" and, `seconds` later, "end NAME" to runs.log (appends of one short
    line are atomic, so the file's order is the order things happened in, across processes)."""
    log = Path(marker_dir, "runs.log")
    with log.open("a") as handle:
        handle.write(f"start {name} {time.time()!r}\n")
    time.sleep(seconds)
    with log.open("a") as handle:
        handle.write(f"end {name} {time.time()!r}\n")
    return name


@stoker.job(concurrency=2)
def two_at_a_time(marker_dir: str, name: str, seconds: float) -> str:
    """At most two of these run at once, across all servers."""
    return log_run(marker_dir, name, seconds)


@stoker.job(rate_limit="2/s")
def two_per_second(marker_dir: str, name: str) -> str:
    """At most two of these start per second, across all servers."""
    return log_run(marker_dir, name, 0.0)
