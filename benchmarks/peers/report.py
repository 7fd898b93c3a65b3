"""The markdown report: machine, versions, configuration, tables of medians and ratios."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.peers.adapter import ROOT
from benchmarks.peers.systems import SYSTEMS

README = ROOT / "benchmarks" / "README.md"
NOTES = Path(__file__).with_name("notes.md")
START, END = "<!-- peers:start -->", "<!-- peers:end -->"
Results = dict[str, dict[str, list[dict[str, Any]]]]
STORAGE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "redis": "Redis"}
# (column, workload, value key, higher is better)
METRICS = (
    ("single enqueue (jobs/s)", "single", "rate", True),
    ("bulk enqueue (jobs/s)", "bulk", "rate", True),
    ("end to end, no-op (jobs/s)", "noop", "rate", True),
    ("end to end, sleep 10 ms (jobs/s)", "sleep", "rate", True),
    ("end to end, async sleep 10 ms (jobs/s)", "asleep", "rate", True),
    ("end to end, 5 ms CPU (jobs/s)", "cpu", "rate", True),
    ("latency p50 (ms)", "latency", "p50", False),
    ("latency p95 (ms)", "latency", "p95", False),
    ("latency p99 (ms)", "latency", "p99", False),
    ("worker memory, no-op run (MiB)", "noop", "memory", False),
)


def values(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [run["values"][key] for run in runs if run["ok"] and run.get("values")]


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def cell(runs: list[dict[str, Any]] | None, key: str, workload: str = "bulk") -> str:
    if not runs:
        return "not run"
    if all(run["ok"] and run.get("values") is None for run in runs):
        return "— (no bulk API)" if workload == "bulk" else "— (no async jobs)"
    got = values(runs, key)
    failed = [run["error"] for run in runs if not run["ok"]]
    if not got:
        return f"**failed**: {failed[0]}"
    text = f"{number(statistics.median(got))} ({number(min(got))}-{number(max(got))})"
    return text + (f" ⚠ {len(failed)}/{len(runs)} failed: {failed[0]}" if failed else "")


def median(results: Results, system: str, workload: str, key: str) -> float | None:
    got = values(results.get(system, {}).get(workload) or [], key)
    return statistics.median(got) if got else None


def label(system: str) -> str:
    return f"**{system}**" if SYSTEMS[system].is_stoker else system


def storage_table(results: Results, storage: str) -> list[str]:
    systems = [key for key in results if SYSTEMS[key].storage == storage]
    lines = [
        "| metric | " + " | ".join(label(key) for key in systems) + " |",
        "|---|" + "---:|" * len(systems),
    ]
    for title, workload, key, _ in METRICS:
        cells = [cell(results[system].get(workload), key, workload) for system in systems]
        if all(text == "not run" for text in cells):
            continue
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return lines
