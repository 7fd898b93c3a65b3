"""Job functions the OpenTelemetry tests enqueue; importable by servers in other processes."""

from __future__ import annotations

import asyncio

from opentelemetry import trace


def current_span_ids() -> list[str]:
    """The trace and span id (hex) of the span current while the job runs."""
    found = trace.get_current_span().get_span_context()
    return [trace.format_trace_id(found.trace_id), trace.format_span_id(found.span_id)]


async def current_span_ids_async() -> list[str]:
    await asyncio.sleep(0)
    return current_span_ids()


def fail(message: str) -> None:
    raise ValueError(message)


def add(a: int, b: int) -> int:
    return a + b
