"""Overview numbers: state counts, succeeded/failed totals and the 24 h / 7 d history charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stoker.core.filters.statistics import stats_keys
from stoker.core.protocols import Monitor

KINDS = ("succeeded", "failed")


@dataclass(frozen=True)
class Point:
    """One bucket of a history chart."""

    start: datetime
    label: str
    succeeded: int
    failed: int


def totals(monitor: Monitor) -> dict[str, int]:
    """All-time succeeded / failed / deleted counters (kept by the statistics filter)."""
    keys = [f"stats:{kind}" for kind in ("succeeded", "failed", "deleted")]
    values = monitor.get_counters(keys)
    return {key.partition(":")[2]: int(values.get(key, 0)) for key in keys}


def _bucket_key(kind: str, moment: datetime, hourly: bool) -> str:
    _total, hour, day = stats_keys(kind, moment)
    return hour if hourly else day


def history(monitor: Monitor, now: datetime) -> dict[str, list[Point]]:
    """The last 24 hours (hourly) and the last 7 days (daily), oldest first, from ONE counter
    read: the buckets are counters written with each state change, never a scan of jobs."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    hours = [hour - timedelta(hours=n) for n in range(23, -1, -1)]
    days = [day - timedelta(days=n) for n in range(6, -1, -1)]
    keys = [_bucket_key(kind, at, True) for at in hours for kind in KINDS]
    keys += [_bucket_key(kind, at, False) for at in days for kind in KINDS]
    values = monitor.get_counters(keys)

    def point(at: datetime, hourly: bool) -> Point:
        counts = [int(values.get(_bucket_key(kind, at, hourly), 0)) for kind in KINDS]
        label = at.strftime("%H:00") if hourly else at.strftime("%a %d")
        return Point(at, label, counts[0], counts[1])

    return {
        "hourly": [point(at, True) for at in hours],
        "daily": [point(at, False) for at in days],
    }


def history_json(series: dict[str, list[Point]]) -> dict[str, Any]:
    return {
        name: [
            {"start": p.start.isoformat(), "succeeded": p.succeeded, "failed": p.failed}
            for p in points
        ]
        for name, points in series.items()
    }


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    title: str


@dataclass(frozen=True)
class Chart:
    """A stacked bar chart laid out for an inline <svg> (no script needed to see history)."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, str], ...]  # (x, text) under the bars
    grid: tuple[tuple[float, str], ...]  # (y, value) horizontal lines
    total_succeeded: int
    total_failed: int


def _nice_max(value: int) -> int:
    """The smallest of 2, 4, 6, 8, 10, 20, 40, ... that is >= `value`: even, so that the
    middle grid line has a whole number too."""
    step = 1
    while True:
        for factor in (2, 4, 6, 8, 10):
            if step * factor >= value:
                return step * factor
        step *= 10


def chart(points: list[Point], width: int = 720, height: int = 200) -> Chart:
    top, bottom, left = 10.0, 24.0, 36.0
    plot_h, plot_w = height - top - bottom, width - left - 4
    peak = _nice_max(max((p.succeeded + p.failed for p in points), default=0))
    slot = plot_w / max(len(points), 1)
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    every = max(1, len(points) // 8)
    for index, p in enumerate(points):
        x = left + index * slot + slot * 0.15
        base = top + plot_h
        title = f"{p.label}: {p.succeeded} succeeded, {p.failed} failed"
        for kind, count in (("succeeded", p.succeeded), ("failed", p.failed)):
            h = plot_h * count / peak
            if h > 0:
                base -= h
                bars.append(
                    Bar(round(x, 1), round(base, 1), round(slot * 0.7, 1), round(h, 1), kind, title)
                )
        if index % every == 0 or index == len(points) - 1:
            labels.append((round(x + slot * 0.35, 1), p.label))
    grid = tuple(
        (round(top + plot_h * (1 - fraction), 1), f"{round(peak * fraction)}")
        for fraction in (0.0, 0.5, 1.0)
    )
    return Chart(
        width=width,
        height=height,
        bars=tuple(bars),
        labels=tuple(labels),
        grid=grid,
        total_succeeded=sum(p.succeeded for p in points),
        total_failed=sum(p.failed for p in points),
    )
