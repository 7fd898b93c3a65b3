"""One measurement (system x workload) in a fresh process; prints a JSON line with the result.

python -m benchmarks.peers.one SYSTEM WORKLOAD [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from dataclasses import asdict
from typing import Any

from benchmarks.peers import jobs, places, workloads
from benchmarks.peers.adapter import ROOT, URL_ENV, Adapter
from benchmarks.peers.systems import SYSTEMS, System

WORKLOADS = ("single", "bulk", "noop", "sleep", "asleep", "cpu", "latency")


def measure(adapter: Adapter, workload: str, sizes: workloads.Sizes, env: dict[str, str]) -> Any:
    if workload == "single":
        return workloads.single(adapter, sizes.single)
    if workload == "bulk":
        if adapter.bulk_api is None:
            return None
        return workloads.bulk(adapter, sizes.bulk)
    if workload == "asleep" and not adapter.async_jobs:
        return None
    if workload == "latency":
        return workloads.latency(adapter, sizes.latency, sizes.interval, env)
    return workloads.end_to_end(adapter, workload, getattr(sizes, workload), env)


def run(system: System, workload: str, sizes: workloads.Sizes) -> dict[str, Any]:
    with places.fresh(system.storage, system.id) as (url, folder):
        os.environ[URL_ENV] = url
        os.environ[jobs.MARKS_ENV] = str(folder / "marks.bin")
        pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": pythonpath}
        adapter = system.adapter()
        adapter.setup()
        try:
            values = measure(adapter, workload, sizes, env)
        finally:
            adapter.close()
        return {"ok": True, "values": values, "config": adapter.config(), "sizes": asdict(sizes)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("workload", choices=WORKLOADS)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sizes = workloads.Sizes.quick() if args.quick else workloads.Sizes()
    try:
        system = SYSTEMS[args.system]
        result = run(system, args.workload, sizes.scaled(system.scale))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        result = {"ok": False, "error": reason}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
