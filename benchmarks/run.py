"""`make bench`: stoker's enqueue rates, throughput and latency per storage, next to the floor.

    .venv/bin/python benchmarks/run.py [--storages sqlite,postgres,redis] [--rounds 3]
        [--jobs 10000] [--quick] [--metrics single,bulk,…] [--no-floor] [--json FILE]

Prints markdown tables (medians over the rounds, min-max in parentheses, ratios to the floor and
to the targets of the issues) and, for a full run, writes them into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its loose modules
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import floor, measure, report  # noqa: E402
from benchmarks.namespaces import STORAGES, Namespace, available, fresh  # noqa: E402
from stoker.server.options import default_workers  # noqa: E402

README = ROOT / "benchmarks" / "README.md"
ALL_METRICS = ("single", "bulk", "throughput", "embedded", "process")
Sink = defaultdict[str, defaultdict[str, list[float]]]


@dataclass(frozen=True)
class Settings:
    storages: tuple[str, ...]
    rounds: int
    jobs: int  # end-to-end throughput
    enqueue_jobs: int  # single enqueue
    bulk_jobs: int
    bulk_batch: int
    latency_jobs: int
    interval: float  # seconds between latency jobs
    workers: int  # threads per server process, throughput
    latency_workers: int  # threads of the latency server
    processes: int
    metrics: tuple[str, ...]
    floor: bool


def parse(argv: Sequence[str]) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storages", default=",".join(STORAGES))
    parser.add_argument("--rounds", type=int, help="rounds per storage (default 3; quick 1)")
    parser.add_argument("--jobs", type=int, help="jobs of the throughput run (default 10000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="threads per server process, throughput (default: stoker's default, %(default)s)",
    )
    parser.add_argument(
        "--latency-workers",
        type=int,
        default=default_workers(),
        help="threads of the latency server (default: stoker's default, %(default)s)",
    )
    parser.add_argument("--processes", type=int, default=2, help="server processes, throughput")
    parser.add_argument("--metrics", default=",".join(ALL_METRICS), help="subset to measure")
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke test")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-statement floor")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--readme",
        choices=("auto", "yes", "no"),
        default="auto",
        help="write the tables into benchmarks/README.md (auto: full runs of every storage)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    storages = tuple(s.strip() for s in args.storages.split(",") if s.strip())
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    for name, chosen, allowed in (
        ("storage", storages, STORAGES),
        ("metric", metrics, ALL_METRICS),
    ):
        unknown = set(chosen) - set(allowed)
        if unknown or not chosen:
            parser.error(f"unknown {name} {sorted(unknown)}; choose from {', '.join(allowed)}")
    settings = Settings(
        storages=storages,
        rounds=args.rounds or (1 if quick else 3),
        jobs=args.jobs or (300 if quick else 10_000),
        enqueue_jobs=100 if quick else 3_000,
        bulk_jobs=1_000 if quick else 30_000,
        bulk_batch=10_000,
        latency_jobs=20 if quick else 300,
        interval=0.02,
        workers=args.workers,
        latency_workers=args.latency_workers,
        processes=args.processes,
        metrics=metrics,
        floor=not args.no_floor,
    )
    return settings, args


def _record(sink: Sink, kind: str, key: str, value: float, unit: str) -> None:
    sink[kind][key].append(value)
    print(f"  {kind:8s} {key:14s} {value:12,.2f} {unit}", file=sys.stderr, flush=True)


def _latency(sink: Sink, kind: str, mode: str, settings: Settings) -> None:
    with fresh(kind) as ns:
        from_call, from_return = measure.latency(
            ns.url, settings.latency_jobs, settings.interval, mode == "embedded",
            settings.latency_workers,
        )  # fmt: skip
    for name, value in report.percentiles(from_call).items():
        _record(sink, kind, f"{mode}_{name}", value, "ms")
    _record(sink, kind, f"{mode}_stored_p50", report.percentiles(from_return)["p50"], "ms")


def _stoker_steps(settings: Settings) -> dict[str, Callable[[str], float]]:
    s = settings
    return {
        "single": lambda url: measure.single_enqueue(url, s.enqueue_jobs),
        "bulk": lambda url: measure.bulk_enqueue(url, s.bulk_jobs, s.bulk_batch),
        "throughput": lambda url: measure.throughput(url, s.jobs, s.workers, s.processes),
    }


def one_round(kind: str, settings: Settings, mine: Sink, floors: Sink) -> None:
    s = settings
    for key, step in _stoker_steps(s).items():
        if key in s.metrics:
            with fresh(kind) as ns:
                _record(mine, kind, key, step(ns.url), "jobs/s")
    for mode in ("embedded", "process"):
        if mode in s.metrics:
            _latency(mine, kind, mode, s)
    if not s.floor:
        return
    floor_steps: dict[str, Callable[[Namespace], float]] = {
        "single": lambda ns: floor.single_enqueue(ns, s.enqueue_jobs),
        "bulk": lambda ns: floor.bulk_enqueue(ns, s.bulk_jobs, s.bulk_batch),
        "throughput": lambda ns: floor.throughput(ns, s.jobs, s.workers, s.processes),
    }
    for key, floor_step in floor_steps.items():
        if key in s.metrics:
            with fresh(kind) as ns:
                _record(floors, kind, key, floor_step(ns), "jobs/s (floor)")


def _shown_args(argv: Sequence[str]) -> list[str]:
    """The command line as the README shows it: without where this run saved its raw data."""
    shown: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--json":
            skip = True
        elif not arg.startswith("--json="):
            shown.append(arg)
    return shown


def section(
    settings: Settings, kinds: Sequence[str], mine: Sink, floors: Sink, load: float
) -> list[str]:
    s = settings
    command = shlex.join([".venv/bin/python", "benchmarks/run.py", *_shown_args(sys.argv[1:])])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"Measured {when} with `{command}` ({s.rounds} rounds, storages alternating; "
        "medians, min-max in parentheses).",
        "",
        *report.machine(kinds),
        f"- load average before the run: {load:.2f}",
        "",
        f"Configuration: single enqueue {s.enqueue_jobs:,} jobs; bulk {s.bulk_jobs:,} jobs in "
        f"calls of {s.bulk_batch:,}; end to end {s.jobs:,} no-op jobs with `stoker server "
        f"--processes {s.processes} --workers {s.workers}`; latency {s.latency_jobs} jobs, one "
        f"every {s.interval * 1000:.0f} ms, server with {s.latency_workers} worker threads; "
        "default server options otherwise. Floor: the same counts and concurrency.",
        "",
        *report.tables(kinds, mine, floors),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    settings, args = parse(sys.argv[1:] if argv is None else argv)
    kinds = []
    for kind in settings.storages:
        problem = available(kind)
        if problem is None:
            kinds.append(kind)
        else:
            print(f"skipping {kind}: {problem}", file=sys.stderr)
    if not kinds:
        print("no storage can be benchmarked here", file=sys.stderr)
        return 1
    mine: Sink = defaultdict(lambda: defaultdict(list))
    floors: Sink = defaultdict(lambda: defaultdict(list))
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"warning: load average {load:.2f} before the run; figures will be noisy",
            file=sys.stderr,
        )
    begin = time.monotonic()
    for number in range(1, settings.rounds + 1):
        for kind in kinds:  # storages alternate, so slow drifts of the machine hit all alike
            print(f"round {number}/{settings.rounds}: {kind}", file=sys.stderr, flush=True)
            one_round(kind, settings, mine, floors)
    print(f"done in {time.monotonic() - begin:.0f} s", file=sys.stderr)
    lines = section(settings, kinds, mine, floors, load)
    print("\n".join(lines))
    full = not args.quick and tuple(kinds) == STORAGES and settings.metrics == ALL_METRICS
    if args.readme == "yes" or (args.readme == "auto" and full):
        report.write_readme(README, lines)
        print(f"wrote {README.relative_to(ROOT)}", file=sys.stderr)
    if args.json:
        raw = {"settings": asdict(settings), "stoker": mine, "floor": floors}
        args.json.write_text(json.dumps(raw, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
