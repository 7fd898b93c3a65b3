"""Timeout interrupts held back while stoker's own code runs inside a job (`shielded`)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class InterruptGuard(Protocol):
    """What the server binds for a running job: interrupts wait while a shield is up."""

    def raise_shield(self) -> None: ...

    def lower_shield(self) -> None: ...


_guard: contextvars.ContextVar[InterruptGuard | None] = contextvars.ContextVar(
    "stoker_interrupt_guard", default=None
)


def bind_guard(guard: InterruptGuard | None) -> contextvars.Token[InterruptGuard | None]:
    return _guard.set(guard)


def unbind_guard(token: contextvars.Token[InterruptGuard | None]) -> None:
    _guard.reset(token)


@contextmanager
def shielded() -> Iterator[None]:
    """Run stoker's own storage work of a job (a log line, progress, an enqueue) without a
    timeout interrupt landing in it; one that falls due meanwhile is raised when it ends.

    An exception raised asynchronously inside a storage call could strike after the commit and
    before the call noted it (SQLite's group commit would then write other threads' changes
    twice), so those calls must not be interrupted. Outside a job this does nothing."""
    guard = _guard.get()
    if guard is None:
        yield
        return
    guard.raise_shield()
    try:
        yield
    finally:
        guard.lower_shield()
