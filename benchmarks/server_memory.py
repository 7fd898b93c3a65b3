"""Where a stoker server process's memory goes: PSS after each step of its start, per storage.

A child process takes the steps one at a time (interpreter, stoker's App and server code
imported, the storage opened, a server with its threads started and idle, after running 2,000
no-op jobs) and the
parent reads the child's proportional set size (PSS, /proc/<pid>/smaps_rollup) after each,
so each step's cost is the difference to the one before. Medians over several children.

    .venv/bin/python benchmarks/server_memory.py [--storages sqlite,postgres,redis]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = (
    "interpreter",
    "stoker.App and the server imported",
    "storage opened (driver imported, connected)",
    "server idle (10 workers)",
    "after 2,000 jobs",
)
URLS = {
    "sqlite": "sqlite:///{tmp}/memory.db",
    "postgres": "postgresql://postgres@127.0.0.1:5432/test?schema=bench_memory",
    "redis": "redis://127.0.0.1:6379/13?prefix=bench-memory",
}
CHILD = """
import sys
def step():
    print("ready", flush=True)
    sys.stdin.readline()
step()
import stoker, stoker.server.server
stoker.App
step()
app = stoker.App(sys.argv[1])
app.storage.count_by_state()
step()
server = app.server(workers=10).start()
step()
from benchmarks.jobs import noop
ids = app.enqueue_many(noop, [()] * 2000)
app.wait(ids[-1], timeout=120)
step()
server.stop()
"""


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError("no Pss line")


def one_child(url: str) -> list[int]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    figures = []
    for _ in STEPS:
        assert child.stdout.readline().strip() == "ready"
        figures.append(pss_kib(child.pid))
        child.stdin.write("\n")
        child.stdin.flush()
    child.wait(60)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storages", default="sqlite,postgres,redis")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    print("| step | " + " | ".join(options.storages.split(",")) + " |")
    print("|---|" + "---:|" * len(options.storages.split(",")))
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        for storage in options.storages.split(","):
            runs = [one_child(URLS[storage].format(tmp=tmp)) for _ in range(options.runs)]
            columns.append([statistics.median(values) for values in zip(*runs, strict=True)])
    for index, step in enumerate(STEPS):
        cells = []
        for column in columns:
            added = column[index] - column[index - 1] if index else column[index]
            cells.append(f"{column[index] / 1024:.1f} MiB (+{added / 1024:.1f})")
        print(f"| {step} | " + " | ".join(cells) + " |")
    print(f"(PSS of one server process, medians of {options.runs} runs)")


if __name__ == "__main__":
    main()
