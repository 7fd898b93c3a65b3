"""Where stoker's time goes: py-spy of `stoker server` working off no-op jobs, cProfile of enqueue.

    benchmarks/peers/.venv/bin/python -m benchmarks.peers.profile_stoker --storage redis

Prints the functions with the most on-CPU samples (self and inclusive) across the server's
processes, and the enqueue loop's top functions by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import time
from collections import Counter
from pathlib import Path

from benchmarks.peers import jobs, places, procs
from benchmarks.peers.adapter import ROOT, URL_ENV, tool
from benchmarks.peers.systems import SYSTEMS


def short(frame: str) -> str:
    """'function (path/file.py:line)' -> 'function file.py'."""
    function, _, where = frame.partition(" (")
    return f"{function} {where.split(':')[0].rsplit('/', 1)[-1]}"


def collapse(raw: Path, top: int) -> None:
    """Summarise py-spy's collapsed stacks ('frame;frame;... count' per line)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [short(frame) for frame in stack.split(";")[1:]]
        samples = int(count)
        total += samples
        if frames:
            own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"\n{total} samples on CPU; own time:")
    for frame, samples in own.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")
    print("inclusive:")
    for frame, samples in inclusive.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")


def server(storage: str, count: int, seconds: float, folder: Path) -> None:
    adapter = SYSTEMS[f"stoker-{storage}"].adapter()
    adapter.enqueue_bulk("noop", count)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    raw = folder / "stacks.txt"
    with procs.running(adapter.worker_commands(), env, folder / "server.log") as workers:
        time.sleep(1.5)
        spy = [tool("py-spy"), "record", "--pid", str(workers.children[0].pid), "--subprocesses"]
        spy += ["--format", "raw", "--rate", "250", "--duration", str(int(seconds))]
        subprocess.run([*spy, "--output", str(raw)], capture_output=True, check=True)
    print(f"jobs done while profiling: {jobs.count(os.environ[jobs.MARKS_ENV]):,} of {count:,}")
    collapse(raw, 25)
    adapter.close()


def enqueue(storage: str, count: int) -> None:
    adapter = SYSTEMS[f"stoker-{storage}"].adapter()
    adapter.single_loop("noop", 100)
    profile = cProfile.Profile()
    profile.runcall(adapter.single_loop, "noop", count)
    print(f"\napp.enqueue x {count:,}, by own time:")
    pstats.Stats(profile).sort_stats("tottime").print_stats(18)
    adapter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storage", choices=("sqlite", "postgres", "redis"), default="redis")
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    with places.fresh(args.storage, "stoker-profile") as (url, folder):
        os.environ[URL_ENV] = url
        os.environ[jobs.MARKS_ENV] = str(folder / "marks.bin")
        server(args.storage, args.jobs, args.seconds, folder)
    with places.fresh(args.storage, "stoker-profile") as (url, folder):
        os.environ[URL_ENV] = url
        enqueue(args.storage, 3_000)


if __name__ == "__main__":
    main()
