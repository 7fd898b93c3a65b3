"""`benchmarks/run.py --quick` still runs end to end and prints every row of its table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STORAGE = "sqlite"  # embedded: the smoke test needs no service


@pytest.mark.slow
def test_quick_benchmark_prints_every_metric_with_its_floor(tmp_path: Path) -> None:
    raw = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--storages", STORAGE,
         "--readme", "no", "--json", str(raw)],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for label in ("single enqueue", "bulk enqueue", "end to end", "latency p99, another process"):
        assert label in done.stdout
    results = json.loads(raw.read_text())
    measured = results["stoker"][STORAGE]
    assert set(measured) == {
        "single", "bulk", "throughput",
        "embedded_p50", "embedded_p95", "embedded_p99", "embedded_stored_p50",
        "process_p50", "process_p95", "process_p99", "process_stored_p50",
    }  # fmt: skip
    assert all(values[0] > 0 for values in measured.values())
    assert set(results["floor"][STORAGE]) == {"single", "bulk", "throughput"}
    assert all(values[0] > 0 for values in results["floor"][STORAGE].values())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "ways"),
    [
        ("key_overhead.py", ["no key", "idempotency key", "unique key"]),
        ("limit_overhead.py", ["plain", "unique key", "concurrency limit", "rate limit"]),
        ("batch_creation.py", ["enqueue_many", "batch"]),
    ],
)
def test_the_overhead_benchmarks_print_a_row_with_every_way(script: str, ways: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--storages", STORAGE,
         "--jobs", "20", "--rounds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header, _, row = done.stdout.splitlines()[:3]
    assert all(way in header for way in ways)
    assert row.startswith(f"| {STORAGE} | ")
    assert row.count("x)") == header.count("|") - 2
