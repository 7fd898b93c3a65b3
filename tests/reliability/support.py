"""Shared helpers of the reliability tests: sizes, figures for the report, clocks and polling."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import stoker
from stoker.core.clock import Clock, SystemClock

# STOKER_RELIABILITY_FULL=1 selects the full-size runs (`make reliability-full`); the default
# sizes keep tests/reliability within a few minutes of CI on two cores.
FULL = os.environ.get("STOKER_RELIABILITY_FULL", "") == "1"
REPORT_PATH = os.environ.get("STOKER_RELIABILITY_REPORT", "")


def size(default: int, full: int) -> int:
    return full if FULL else default


def seconds(default: float, full: float) -> float:
    return full if FULL else default


@dataclass
class Figures:
    """Numbers a test measured, collected for the terminal summary and the JSON report."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, test: str, storage: str, **values: Any) -> None:
        with self.lock:
            self.rows.append({"test": test, "storage": storage, "full": FULL, **values})

    def lines(self) -> list[str]:
        out = []
        for row in self.rows:
            values = {k: v for k, v in row.items() if k not in ("test", "storage", "full")}
            text = ", ".join(f"{key}={value}" for key, value in values.items())
            out.append(f"{row['test']} [{row['storage']}]: {text}")
        return out

    def write(self, path: str) -> None:
        Path(path).write_text(json.dumps(self.rows, indent=2, default=str) + "\n")


FIGURES = Figures()


def storage_kind(url: str) -> str:
    scheme = url.partition("://")[0]
    return {"postgresql": "postgres", "postgres": "postgres", "rediss": "redis"}.get(scheme, scheme)


def read_runs(runs_file: Path) -> Counter[int]:
    """How many times each job number ran (one line per finished run, see reliability_jobs)."""
    if not runs_file.exists():
        return Counter()
    return Counter(int(line.split()[0]) for line in runs_file.read_text().splitlines() if line)


def pending(app: stoker.App) -> int:
    counts = app.storage.count_by_state()
    return counts["Enqueued"] + counts["Processing"] + counts["Scheduled"]


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class SkewedClock:
    """The system clock off by a fixed amount: a server on a host whose clock is wrong."""

    def __init__(self, skew: float, base: Clock | None = None) -> None:
        self.skew = timedelta(seconds=skew)
        self.base = base or SystemClock()

    def now(self) -> datetime:
        return self.base.now() + self.skew


OCCURRENCE = "occurrence "


def occurrences(app: stoker.App, recurring_id: str) -> Counter[datetime]:
    """How many jobs were created for each occurrence (the first history entry names it)."""
    counts: Counter[datetime] = Counter()
    for state in ("Enqueued", "Processing", "Succeeded"):
        total = app.storage.count_jobs(state)
        for offset in range(0, total, 1000):
            for record in app.storage.list_jobs(state, offset=offset, limit=1000):
                if record.params.get("recurring_id") != recurring_id:
                    continue
                details = app.storage.job_details(record.id)
                assert details is not None
                reason = details.history[0].reason or ""
                assert OCCURRENCE in reason, reason
                counts[datetime.fromisoformat(reason.split(OCCURRENCE)[1])] += 1
    return counts
