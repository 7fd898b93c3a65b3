"""Job functions the CLI tests enqueue, importable by a `stoker server` subprocess."""

from __future__ import annotations

from typing import Any


def add(a: int, b: int = 0) -> int:
    return a + b


def describe(*args: Any, **kwargs: Any) -> str:
    return f"{args!r} {kwargs!r}"
