"""Job functions the reliability tests enqueue; importable by servers in other processes."""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path


def mark(runs_file: str, number: int, seconds: float = 0.0) -> int:
    """Sleep, then append `number` to a shared file, so tests can count how often each job ran.

    One O_APPEND write of a short line is atomic on a local file system: lines written by
    many processes at once never interleave, and a line is either there whole or not at all.
    """
    if seconds:
        time.sleep(seconds)
    fd = os.open(runs_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{number}\n".encode())
    finally:
        os.close(fd)
    return number


def mark_when_released(runs_file: str, number: int, release_file: str, limit: float) -> int:
    """Block until `release_file` exists (at most `limit` s), then mark: a job that is still
    running at a shutdown for as long as the test wants, and finishes at once when rerun."""
    deadline = time.monotonic() + limit
    while not Path(release_file).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release_file} did not appear within {limit} s")
        time.sleep(0.02)
    return mark(runs_file, number)


def mark_start(runs_file: str, number: int) -> int:
    """Append `number` and the wall-clock time the job started (for early/late checks)."""
    fd = os.open(runs_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{number} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)
    return number


def noop() -> None:
    """Nothing at all: the cheapest job, for long runs."""


def segfault(after: float = 0.0) -> None:
    """Crash the whole process with SIGSEGV by reading address 0 (after `after` seconds)."""
    time.sleep(after)
    ctypes.string_at(0)
