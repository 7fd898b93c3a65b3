"""Job functions of the metrics tests, importable by a `stoker server` subprocess."""

from __future__ import annotations

import threading
import time

import stoker

# Set by a test to let `hold` end; a job in `hold` keeps a worker busy until then.
RELEASE = threading.Event()


def ok(n: int) -> int:
    return n


def boom() -> None:
    raise ValueError("boom")


def hold() -> None:
    RELEASE.wait(30)


def nap(seconds: float) -> float:
    """Keeps its worker busy a while, so that a batch of naps spreads over every server."""
    time.sleep(seconds)
    return seconds


def chatty(text: str) -> str:
    stoker.current_job().log(text)
    return text


def spin(seconds: float) -> None:
    """Runs Python code (short sleeps) for `seconds`, so a timeout interrupt can land."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)


async def later(n: int) -> int:
    return n
