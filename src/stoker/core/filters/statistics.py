"""Statistics: succeeded/failed/deleted totals and per-hour and per-day counters for the charts."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from stoker.core.counters import CounterBuffer
from stoker.core.records import CounterIncrement
from stoker.core.state_machine import ElectionContext, StateMachine

COUNTED_STATES = {"Succeeded": "succeeded", "Failed": "failed", "Deleted": "deleted"}
HOURLY_KEEP = timedelta(days=2)
DAILY_KEEP = timedelta(days=32)


def stats_keys(kind: str, moment: datetime) -> tuple[str, str, str]:
    """(total, hourly, daily) counter keys of `kind` ('succeeded', 'failed', 'deleted') in UTC."""
    return (
        f"stats:{kind}",
        f"stats:{kind}:h:{moment:%Y-%m-%dT%H}",
        f"stats:{kind}:d:{moment:%Y-%m-%d}",
    )


@functools.lru_cache(maxsize=64)
def _increments(kind: str, hour_start: datetime) -> tuple[CounterIncrement, ...]:
    """The three increments of one counted change; they only change once an hour, and every
    finished job needs them, so they are made once per (kind, hour)."""
    total, hourly, daily = stats_keys(kind, hour_start)
    day_start = hour_start.replace(hour=0)
    return (
        CounterIncrement(total),
        CounterIncrement(hourly, expire_at=hour_start + HOURLY_KEEP),
        CounterIncrement(daily, expire_at=day_start + DAILY_KEEP),
    )


class StatisticsFilter:
    """Counts jobs reaching Succeeded, Failed and Deleted.

    By default the counts are written in the same transaction as the change. With a `buffer`
    (a server's workers: see `folding_counters`) they are added to it once the change is
    stored, and the server writes the buffer's totals every second or so."""

    def __init__(self, buffer: CounterBuffer | None = None) -> None:
        self.buffer = buffer

    def on_election(self, context: ElectionContext) -> None:
        if self.buffer is None:
            context.counters.extend(counted(context))

    def on_applied(self, context: ElectionContext) -> None:
        if self.buffer is not None:
            self.buffer.add(counted(context))


def counted(context: ElectionContext) -> tuple[CounterIncrement, ...]:
    """The increments of the change elected in `context` (none for an uncounted state)."""
    kind = COUNTED_STATES.get(context.candidate.name)
    if kind is None:
        return ()
    return _increments(kind, context.now.replace(minute=0, second=0, microsecond=0))


def folding_counters(machine: StateMachine, buffer: CounterBuffer) -> StateMachine:
    """A copy of `machine` whose statistics go to `buffer` instead of each change's transaction
    (every other filter, the user's included, is the same object)."""
    filters = [
        StatisticsFilter(buffer) if isinstance(each, StatisticsFilter) else each
        for each in machine.filters
    ]
    return StateMachine(machine.storage, machine.clock, filters, machine.retention)
