"""The benchmark report: targets from the issues, the markdown tables, the machine, the README."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sqlite3
import statistics
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START_MARK = "<!-- results:start -->"
END_MARK = "<!-- results:end -->"
TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "redis": "Redis"}


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    digits: int = 0


METRICS = (
    Metric("single", "single enqueue (`app.enqueue` loop)", "jobs/s", True),
    Metric("bulk", "bulk enqueue (`enqueue_many`)", "jobs/s", True),
    Metric("throughput", "end to end, no-op jobs, 2 server processes", "jobs/s", True),
    Metric("embedded_p50", "latency p50, server in the same process", "ms", False, 2),
    Metric("embedded_p95", "latency p95, same process", "ms", False, 2),
    Metric("embedded_p99", "latency p99, same process", "ms", False, 2),
    Metric(
        "embedded_stored_p50", "latency p50 from enqueue's return, same process", "ms", False, 2
    ),
    Metric("process_p50", "latency p50, server in another process", "ms", False, 2),
    Metric("process_p95", "latency p95, another process", "ms", False, 2),
    Metric("process_p99", "latency p99, another process", "ms", False, 2),
    Metric(
        "process_stored_p50", "latency p50 from enqueue's return, another process", "ms", False, 2
    ),
)
FLOOR_METRICS = ("single", "bulk", "throughput")


@dataclass(frozen=True)
class Target:
    value: float
    reference: str  # what the issue measured on this machine for the peers


# From the issues' "Performance" sections (2: core and SQLite, 3: PostgreSQL, 4: Redis).
TARGETS: dict[str, dict[str, Target]] = {
    "sqlite": {
        "single": Target(7000, "Huey/SQLite 6,900"),
        "throughput": Target(3000, "Huey/SQLite ~3,000"),
        "embedded_p50": Target(5, ""),
        "process_p50": Target(25, "Huey 27 (6 tuned)"),
    },
    "postgres": {
        "single": Target(3300, "pgqueuer 3,300"),
        "bulk": Target(50000, "pgqueuer 68,000"),
        "throughput": Target(8300, "pgqueuer 8,300"),
        "embedded_p50": Target(4, "pgqueuer 3.5"),
        "process_p50": Target(4, "pgqueuer 3.5"),
    },
    "redis": {
        "single": Target(9500, "Huey 9,500"),
        "bulk": Target(30000, "RQ 20,000"),
        "throughput": Target(6800, "Huey 6,800"),
        "embedded_p50": Target(1.5, "Huey 0.9"),
        "embedded_p99": Target(5, ""),
        "process_p50": Target(1.5, "Huey 0.9"),
        "process_p99": Target(5, "Dramatiq 208"),
    },
}

Results = Mapping[str, Mapping[str, Sequence[float]]]  # storage -> metric -> one value per round


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": statistics.median(samples), "p95": cuts[94], "p99": cuts[98]}


def _number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def _cell(values: Sequence[float], digits: int) -> str:
    if not values:
        return "—"
    median = _number(statistics.median(values), digits)
    if len(values) == 1:
        return median
    return f"{median} ({_number(min(values), digits)}-{_number(max(values), digits)})"


def _versus(metric: Metric, value: float, target: Target | None) -> tuple[str, str]:
    if target is None:
        return "—", "—"
    sign = "≥" if metric.higher_is_better else "<"
    wanted = f"{sign} {_number(target.value, metric.digits if target.value < 100 else 0)}"
    if target.reference:
        wanted += f" ({target.reference})"
    ratio = value / target.value if metric.higher_is_better else target.value / value
    met = value >= target.value if metric.higher_is_better else value < target.value
    return wanted, f"{ratio:.2f} {'✓' if met else '✗'}"


def storage_table(kind: str, stoker_results: Results, floor_results: Results) -> list[str]:
    lines = [
        f"### {TITLES[kind]}",
        "",
        "| metric | stoker | floor | stoker ÷ floor | target | vs target |",
        "|---|---:|---:|---:|---|---:|",
    ]
    mine = stoker_results.get(kind, {})
    floor = floor_results.get(kind, {})
    for metric in METRICS:
        values = mine.get(metric.key, ())
        if not values:
            continue
        floor_values = floor.get(metric.key, ())
        share = "—"
        if floor_values:
            share = f"{statistics.median(values) / statistics.median(floor_values):.0%}"
        wanted, versus = _versus(
            metric, statistics.median(values), TARGETS.get(kind, {}).get(metric.key)
        )
        lines.append(
            f"| {metric.label} ({metric.unit}) | {_cell(values, metric.digits)} "
            f"| {_cell(floor_values, metric.digits)} | {share} | {wanted} | {versus} |"
        )
    return [*lines, ""]


def tables(kinds: Sequence[str], stoker_results: Results, floor_results: Results) -> list[str]:
    lines: list[str] = []
    for kind in kinds:
        lines += storage_table(kind, stoker_results, floor_results)
    return lines


def _meminfo_gib() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return "?"
    found = re.search(r"MemTotal:\s+(\d+) kB", text)
    return f"{int(found.group(1)) / 1024**2:.1f} GiB" if found else "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "?"
    return f"{head}{' + uncommitted changes' if dirty else ''}" if head else "?"


def _version_of(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _server_versions(kinds: Sequence[str]) -> list[str]:
    from benchmarks.namespaces import POSTGRES_URL, REDIS_URL

    lines = []
    if "postgres" in kinds:
        import psycopg

        with psycopg.connect(POSTGRES_URL) as conn:
            settings = conn.execute(
                "SELECT current_setting('server_version'), current_setting('synchronous_commit'),"
                " current_setting('fsync')"
            ).fetchone()
        assert settings is not None
        lines.append(
            f"PostgreSQL {settings[0]} (synchronous_commit={settings[1]}, fsync={settings[2]}), "
            f"psycopg {psycopg.__version__}"
        )
    if "redis" in kinds:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        info = client.info("server")
        persistence = client.config_get("appendonly").get("appendonly", "?")
        client.close()
        version = info["redis_version"]
        parser = f"hiredis {_version_of('hiredis')}" if _version_of("hiredis") else "no hiredis"
        lines.append(
            f"Redis {version} (appendonly={persistence}), redis-py {redis.__version__} ({parser})"
        )
    return lines


def machine(kinds: Sequence[str]) -> list[str]:
    import stoker

    facts = [
        f"{os.cpu_count()} cores ({_cpu_model()}), {_meminfo_gib()} RAM, {platform.platform()}",
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        *_server_versions(kinds),
        f"stoker {stoker.__version__} at git {_git_revision()}",
    ]
    return [f"- {fact}" for fact in facts]


def write_readme(path: Path, section: Sequence[str]) -> None:
    """Replace the results section of the README (between the markers) with `section`."""
    text = path.read_text("utf-8")
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        raise ValueError(f"{path} has no {START_MARK} … {END_MARK} section to replace")
    body = "\n".join([START_MARK, *section, END_MARK])
    path.write_text(text[:start] + body + text[end + len(END_MARK) :], "utf-8")
