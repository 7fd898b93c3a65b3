"""`make bench-peers`: stoker and its Python peers through the same workloads, rounds alternating.

    benchmarks/peers/.venv/bin/python -m benchmarks.peers.run [--systems ...] [--workloads ...]
        [--rounds 3] [--quick] [--readme auto|yes|no] [--json FILE]

Each measurement (one system, one workload) runs in a fresh process on fresh storage; within a
round every workload passes through all systems in turn (A B C ... A B C ...). Prints markdown
tables of medians (min-max) and stoker's ratio to each peer on the same storage.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.peers import document, machine, places, report
from benchmarks.peers.adapter import ROOT
from benchmarks.peers.one import WORKLOADS
from benchmarks.peers.systems import STORAGES, SYSTEMS

TIMEOUT = 600.0


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default="all", help="ids or storages, comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--rounds", type=int, help="default 3 (quick: 1)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke test")
    parser.add_argument("--readme", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--json", type=Path, help="also write every round's raw result here")
    parser.add_argument(
        "--from-json", type=Path, help="measure nothing: render the results of an earlier --json"
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    return args


def select(spec: str) -> list[str]:
    """System ids from ids and storage names ('all', 'redis', 'stoker-sqlite,huey-sqlite')."""
    chosen: list[str] = []
    for word in spec.split(","):
        word = word.strip()
        if word == "all":
            chosen += list(SYSTEMS)
        elif word in STORAGES:
            chosen += [key for key, system in SYSTEMS.items() if system.storage == word]
        elif word in SYSTEMS:
            chosen.append(word)
        else:
            raise SystemExit(f"unknown system {word!r}; known: {', '.join(SYSTEMS)}, {STORAGES}")
    return [key for key in SYSTEMS if key in chosen]


def measure_once(system: str, workload: str, quick: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.peers.one", system, workload]
    try:
        done = subprocess.run(
            [*command, *(["--quick"] if quick else [])],
            cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"no result within {TIMEOUT:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if not lines:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        return {"ok": False, "error": tail[0][:160]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_rounds(args: argparse.Namespace, systems: list[str]) -> report.Results:
    results: report.Results = {key: {} for key in systems}
    workloads = [w.strip() for w in args.workloads.split(",")]
    for index in range(args.rounds):
        for workload in workloads:
            for system in systems:
                begin = time.monotonic()
                result = measure_once(system, workload, args.quick)
                results[system].setdefault(workload, []).append(result)
                shown = result.get("values") if result["ok"] else f"FAILED {result['error']}"
                took = time.monotonic() - begin
                print(
                    f"round {index + 1} {workload:8} {system:16} {took:5.1f}s {shown}", flush=True
                )
    return results


def load(args: argparse.Namespace) -> tuple[report.Results, list[str], float]:
    """An earlier run's --json file (a bare results dict: the machine is described anew)."""
    saved = json.loads(args.from_json.read_text())
    if "results" not in saved:
        saved = {"results": saved, "started": args.from_json.stat().st_mtime}
    args.rounds = saved.get("rounds") or len(
        next(iter(next(iter(saved["results"].values())).values()))
    )
    sys.argv[1:] = saved.get("argv", ["--rounds", str(args.rounds)])
    return saved["results"], saved.get("machine") or machine.describe(), saved["started"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    systems = select(args.systems)
    if (
        not args.from_json
        and any(SYSTEMS[key].storage == "redis" for key in systems)
        and places.redis_keys()
    ):
        raise SystemExit(
            f"Redis db {places.REDIS_DB} is not empty: set PEERS_REDIS_DB to a free one"
        )
    if args.from_json:
        results, described, started = load(args)
    else:
        started, described = time.time(), machine.describe()
        results = run_rounds(args, systems)
    text = document.render(results, args, described, started)
    print("\n" + text)
    if args.json:
        saved = {"results": results, "machine": described, "started": started}
        saved |= {"rounds": args.rounds, "argv": sys.argv[1:]}
        args.json.write_text(json.dumps(saved, indent=1))
    full = not args.quick and set(systems) == set(SYSTEMS) and args.workloads == ",".join(WORKLOADS)
    if args.readme == "yes" or (args.readme == "auto" and full):
        document.write_readme(text)
        print(f"wrote the table into {report.README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
