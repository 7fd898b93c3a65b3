"""Example jobs used by `stoker demo`: quick, slow with progress, flaky, failing and async."""

from __future__ import annotations

import asyncio
import random
import time

from stoker.core.context import current_job
from stoker.core.jobs import job


@job(queue="default")
def greet(name: str) -> str:
    """A quick job that returns a value."""
    return f"Hello, {name}!"


@job(queue="default")
def resize_images(count: int) -> dict[str, int]:
    """A slower job that reports progress and writes log lines."""
    context = current_job()
    for done in range(1, count + 1):
        time.sleep(0.2)
        context.progress(done / count)
        context.log(f"resized image {done} of {count}")
    return {"resized": count}


@job(retries=3, retry_delays=[1, 2, 3])
def flaky_payment(order_id: int) -> str:
    """Fails now and then; the retry filter schedules it again."""
    if random.random() < 0.6:
        raise ConnectionError(f"payment gateway timed out for order {order_id}")
    return f"order {order_id} paid"


@job(retries=2, retry_delays=[1, 1])
def broken_report() -> None:
    """Always fails: after its retries it stays Failed, with every attempt in its history."""
    raise ValueError("report template 'q3.tpl' not found")


@job
async def fetch_rates(currency: str) -> float:
    """An async job, run on the server's event loop."""
    await asyncio.sleep(0.3)
    return round(1.0 + random.random(), 4)


@job
def notify_team(message: str) -> str:
    """Used as a continuation: runs when its parent succeeded."""
    return f"notified: {message}"
