"""The whole report section, and writing it into benchmarks/README.md between the markers."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from typing import Any

from benchmarks.peers import report, report_ratios
from benchmarks.peers.report import NOTES, README, STORAGE_NAMES, Results
from benchmarks.peers.systems import STORAGES, SYSTEMS

COMMAND = "benchmarks/peers/.venv/bin/python -m benchmarks.peers.run"


def header(args: argparse.Namespace, machine: list[str], started: float) -> list[str]:
    when = datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%d %H:%M UTC")
    flags = shlex.join(sys.argv[1:])
    return [
        "## stoker next to its peers",
        "",
        f"Measured {when} with `{COMMAND}{' ' + flags if flags else ''}` ({args.rounds} "
        "rounds; within a round each workload runs through every system in turn; medians, "
        "min-max in parentheses). `make bench-peers` runs the same.",
        "",
        *(f"- {line}" for line in machine),
        "",
    ]


def configuration(results: Results) -> list[str]:
    lines = ["Configuration (each system's documented defaults for this machine unless said):", ""]
    for system, runs in results.items():
        config = next((r["config"] for rs in runs.values() for r in rs if r.get("config")), "?")
        lines.append(f"- **{system}**: {config}")
    return [*lines, ""]


def sizes(results: Results) -> list[str]:
    seen: dict[str, Any] = {}
    for system, runs in results.items():
        for result in (r for rs in runs.values() for r in rs if r.get("sizes")):
            seen.setdefault(system, result["sizes"])
    if not seen:
        return []
    base = max(seen.values(), key=lambda s: s["noop"])
    odd = [f"{key}: {s['noop']:,} / {s['sleep']:,} / {s['cpu']:,}" for key, s in seen.items()
           if s != base]  # fmt: skip
    return [
        f"Workloads: single enqueue {base['single']:,} jobs after 100 for warm-up, one call "
        f"each; bulk {base['bulk']:,} jobs in calls of up to 10,000; end to end "
        f"{base['noop']:,} no-op, {base['sleep']:,} sleep-10-ms, "
        f"{base.get('asleep', 0):,} async-sleep-10-ms (`async def` jobs that "
        f"`await asyncio.sleep(0.01)`, on systems that run them) and {base['cpu']:,} "
        "5-ms-CPU jobs, stored before two worker processes start, jobs/s from the first job's "
        "start to the last job's end (timestamps the jobs write); latency "
        f"{base['latency']} jobs one every {base['interval'] * 1000:.0f} ms, job start minus "
        "the time just before the enqueue call; memory: peak of the summed PSS of all worker "
        "processes (sampled every 0.2 s) during the no-op run."
        + (f" Smaller end-to-end counts (no-op / sleep / CPU): {'; '.join(odd)}." if odd else ""),
        "",
    ]


def render(results: Results, args: argparse.Namespace, machine: list[str], started: float) -> str:
    lines = header(args, machine, started) + sizes(results) + configuration(results)
    for storage in STORAGES:
        if not any(SYSTEMS[key].storage == storage for key in results):
            continue
        lines += [f"### {STORAGE_NAMES[storage]}", "", *report.storage_table(results, storage), ""]
        ratios = report_ratios.ratio_table(results, storage)
        if ratios:
            lines += ["stoker ÷ peer (above 1: stoker faster for rates, slower for latency and "
                      "memory):", "", *ratios, ""]  # fmt: skip
            lines += ["stoker against the best peer:", ""]
            lines += [*report_ratios.place_table(results, storage), ""]
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_readme(text: str) -> None:
    content = README.read_text()
    block = f"{report.START}\n{text}{report.END}"
    if report.START in content and report.END in content:
        before = content.split(report.START)[0]
        after = content.split(report.END, 1)[1]
        content = before + block + after
    else:
        content = content.rstrip() + "\n\n" + block + "\n"
    README.write_text(content)
