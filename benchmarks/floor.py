"""Floor mode: the bare statements of `floor_backends` measured like stoker itself.

Also the worker process of the floor throughput run:
`python -m benchmarks.floor KIND BASE NAME THREADS` claims and finishes jobs on THREADS threads
until the queue is empty, then prints {"first": t, "last": t, "done": n} as one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.floor_backends import open_backend
from benchmarks.namespaces import Namespace

ROOT = Path(__file__).resolve().parents[1]
BULK_CHUNK = 10_000


def single_enqueue(namespace: Namespace, count: int) -> float:
    backend = open_backend(namespace.kind, namespace.base, namespace.name)
    try:
        for _ in range(min(100, count)):
            backend.insert_one()
        begin = time.perf_counter()
        for _ in range(count):
            backend.insert_one()
        return count / (time.perf_counter() - begin)
    finally:
        backend.close()


def bulk_enqueue(namespace: Namespace, count: int, batch: int) -> float:
    backend = open_backend(namespace.kind, namespace.base, namespace.name)
    try:
        backend.insert_many(min(100, count))
        begin = time.perf_counter()
        for start in range(0, count, batch):
            backend.insert_many(min(batch, count - start))
        return count / (time.perf_counter() - begin)
    finally:
        backend.close()


def throughput(namespace: Namespace, count: int, threads: int, processes: int) -> float:
    """Jobs per second from the first claim to the last finish, `processes` x `threads`."""
    backend = open_backend(namespace.kind, namespace.base, namespace.name)
    try:
        for start in range(0, count, BULK_CHUNK):
            backend.insert_many(min(BULK_CHUNK, count - start))
    finally:
        backend.close()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    command = [
        sys.executable, "-m", "benchmarks.floor",
        namespace.kind, namespace.base, namespace.name, str(threads),
    ]  # fmt: skip
    children = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    reports = []
    for child in children:
        out, _ = child.communicate(timeout=max(120.0, count / 50))
        if child.returncode != 0:
            raise RuntimeError(f"floor worker exited with {child.returncode}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    done = sum(int(report["done"]) for report in reports)
    if done != count:
        raise RuntimeError(f"floor workers finished {done} jobs, expected {count}")
    first = min(float(report["first"]) for report in reports if report["done"])
    last = max(float(report["last"]) for report in reports if report["done"])
    return count / (last - first)


def _work(kind: str, base: str, name: str, span: dict[str, float], lock: threading.Lock) -> None:
    backend = open_backend(kind, base, name)
    done = 0
    first = last = 0.0
    try:
        while (job_id := backend.claim()) is not None:
            if not done:
                first = time.time()
            backend.finish(job_id)
            done += 1
            last = time.time()
    finally:
        backend.close()
    with lock:
        span["done"] += done
        if done:
            span["first"] = min(span["first"], first)
            span["last"] = max(span["last"], last)


def worker_main(argv: list[str]) -> int:
    kind, base, name, threads = argv[0], argv[1], argv[2], int(argv[3])
    span = {"done": 0.0, "first": float("inf"), "last": 0.0}
    lock = threading.Lock()
    workers = [
        threading.Thread(target=_work, args=(kind, base, name, span, lock)) for _ in range(threads)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    print(json.dumps({"first": span["first"], "last": span["last"], "done": int(span["done"])}))
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
