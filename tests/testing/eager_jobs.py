"""Job functions the eager runner's tests enqueue (importable by path)."""

from __future__ import annotations

import asyncio
import threading

import stoker

calls: list[tuple[str, int]] = []  # (name, thread) of each run of `record`


def record(name: str) -> str:
    calls.append((name, threading.get_ident()))
    return name


def fail(message: str) -> None:
    raise ValueError(message)


@stoker.job(retries=1, retry_delays=[30])
def fail_with_one_retry(message: str) -> None:
    raise KeyError(message)


async def double_later(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2
