"""Job bodies shared by every system; each writes (start, end) or (seq, start) to a marks file."""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Awaitable, Callable

MARKS_ENV = "PEERS_MARKS"
RECORD = struct.Struct("<dd")
_fds: dict[int, int] = {}


def mark(first: float, second: float) -> None:
    """Append one 16-byte record (a single O_APPEND write, atomic across processes)."""
    pid = os.getpid()
    fd = _fds.get(pid)
    if fd is None:
        fd = os.open(os.environ[MARKS_ENV], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fds[pid] = fd
    os.write(fd, RECORD.pack(first, second))


def burn(seconds: float) -> None:
    """Spend `seconds` of this thread's CPU time (not wall time) in pure Python."""
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass


def noop() -> None:
    now = time.time()
    mark(now, now)


def sleep10() -> None:
    start = time.time()
    time.sleep(0.01)
    mark(start, time.time())


def burn5() -> None:
    start = time.time()
    burn(0.005)
    mark(start, time.time())


def started(seq: int) -> None:
    mark(float(seq), time.time())


async def anoop() -> None:
    noop()


async def asleep10() -> None:
    start = time.time()
    await asyncio.sleep(0.01)
    mark(start, time.time())


async def aburn5() -> None:
    burn5()


async def astarted(seq: int) -> None:
    started(seq)


SYNC: dict[str, Callable[..., None]] = {
    "noop": noop,
    "sleep": sleep10,
    "cpu": burn5,
    "latency": started,
}
ASYNC: dict[str, Callable[..., Awaitable[None]]] = {
    "noop": anoop,
    "sleep": asleep10,
    "cpu": aburn5,
    "latency": astarted,
    "asleep": asleep10,
}


def read(path: str) -> list[tuple[float, float]]:
    """Every record written so far (a partial trailing record is ignored)."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return []
    usable = len(data) - len(data) % RECORD.size
    return [RECORD.unpack_from(data, at) for at in range(0, usable, RECORD.size)]


def count(path: str) -> int:
    try:
        return os.stat(path).st_size // RECORD.size
    except FileNotFoundError:
        return 0
