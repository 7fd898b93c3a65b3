"""Dashboard page times with a large store: every page under 200 ms with 1,000,000 jobs.

    .venv/bin/python benchmarks/dashboard_pages.py --jobs 1000000 --storages sqlite,postgres,redis
    .venv/bin/python benchmarks/dashboard_pages.py --quick      # 20,000 jobs: a smoke run

Seeds a fresh namespace per storage (see benchmarks/dashboard_seed.py), times every page and
JSON endpoint through Starlette's TestClient (the median of --repeat requests after one
warm-up request), prints a markdown table and, unless --quick or --readme no, writes it into
benchmarks/README.md between the dashboard markers. Namespaces are removed afterwards.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: import the package, not its loose modules
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

warnings.filterwarnings("ignore", message=r".*httpx.*starlette\.testclient", category=Warning)
from starlette.testclient import TestClient  # noqa: E402

import stoker  # noqa: E402
from benchmarks.dashboard_seed import Seeded, seed  # noqa: E402
from benchmarks.namespaces import STORAGES, Namespace, fresh  # noqa: E402
from stoker.dashboard import create_app  # noqa: E402

README = ROOT / "benchmarks" / "README.md"
START, END = "<!-- dashboard:start -->", "<!-- dashboard:end -->"
LIMIT_MS = 200.0
TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL", "redis": "Redis"}


def pages(seeded: Seeded) -> list[tuple[str, str]]:
    """(label, path) of every page and endpoint measured, for the store `seeded` describes."""
    found: list[tuple[str, str]] = [("overview", "/")]
    for state, total in seeded.by_state.items():
        slug = state.lower()
        found.append((f"{state}: first page", f"/jobs/{slug}"))
        last = max(1, -(-total // 20))
        if last > 2:
            found.append((f"{state}: middle page", f"/jobs/{slug}?page={last // 2}"))
            found.append((f"{state}: last page", f"/jobs/{slug}?page={last}"))
    found += [
        ("Succeeded: 500 per page", "/jobs/succeeded?size=500"),
        ("Succeeded: oldest first, middle", f"/jobs/succeeded?sort=oldest&page={_mid(seeded)}"),
        ("Enqueued: one queue", "/jobs/enqueued?queue=mail"),
        ("search Failed by job id", f"/jobs/failed?q={seeded.failed_id}"),
        ("search Succeeded by job name", "/jobs/succeeded?q=resize_image"),
        ("search Succeeded by a rare job name", "/jobs/succeeded?q=sync_crm"),
        ("search Succeeded by argument text", f"/jobs/succeeded?q={quote(seeded.argument_text)}"),
        ("search Succeeded, no match", "/jobs/succeeded?q=no-such-text"),
        ("search Failed by job name", "/jobs/failed?q=charge_card"),
        ("retries", "/retries"),
        ("recurring jobs", "/recurring"),
        ("servers", "/servers"),
        ("job details (Failed)", f"/job/{seeded.failed_id}"),
        ("job details (Succeeded)", f"/job/{seeded.succeeded_id}"),
        ("API stats", "/api/stats"),
        ("API history", "/api/history"),
        ("API jobs (Succeeded, middle page)", f"/api/jobs/succeeded?page={_mid(seeded)}"),
        ("API jobs (search by job name)", "/api/jobs/succeeded?q=build_report"),
        ("API job", f"/api/job/{seeded.failed_id}"),
        ("API servers", "/api/servers"),
        ("API recurring", "/api/recurring"),
    ]
    return found


def _mid(seeded: Seeded) -> int:
    return max(1, seeded.by_state.get("Succeeded", 0) // 20 // 2)


def settle(namespace: Namespace) -> None:
    """PostgreSQL: VACUUM (ANALYZE) the job tables, which autovacuum does by itself soon after
    a bulk load: the planner gets statistics, and the visibility map lets a deep page skip the
    jobs before it on the index alone (an index-only scan). Not waiting for autovacuum keeps
    the run short and its timing predictable."""
    if namespace.kind != "postgres":
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(namespace.base, autocommit=True) as conn:
        for table in ("job", "job_state", "job_payload"):
            conn.execute(
                sql.SQL("VACUUM (ANALYZE) {}.{}").format(
                    sql.Identifier(namespace.name), sql.Identifier(table)
                )
            )


def time_pages(url: str, seeded: Seeded, repeat: int) -> dict[str, float]:
    """Median milliseconds of each page."""
    results: dict[str, float] = {}
    app = stoker.App(url)
    try:
        local = ("127.0.0.1", 50000)
        with TestClient(create_app(app), client=local, follow_redirects=False) as client:
            for label, path in pages(seeded):
                samples = []
                for attempt in range(repeat + 1):
                    began = time.perf_counter()
                    response = client.get(path)
                    elapsed = (time.perf_counter() - began) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: HTTP {response.status_code}")
                    if attempt:  # the first request warms caches and prepared statements
                        samples.append(elapsed)
                results[label] = statistics.median(samples)
    finally:
        app.close()
    return results


def table(results: dict[str, dict[str, float]]) -> str:
    kinds = list(results)
    labels = list(dict.fromkeys(label for kind in kinds for label in results[kind]))
    lines = [
        "| page | " + " | ".join(TITLES.get(kind, kind) for kind in kinds) + " |",
        "|---|" + "---:|" * len(kinds),
    ]
    for label in labels:
        cells = []
        for kind in kinds:
            ms = results[kind].get(label)
            cells.append("—" if ms is None else f"{ms:,.1f} {'✓' if ms < LIMIT_MS else '✗'}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = README.read_text()
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        readme = head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1]
    else:
        readme = readme.rstrip("\n") + "\n\n" + START + "\n" + text + "\n" + END + "\n"
    README.write_text(readme)


def report(args: argparse.Namespace, results: dict[str, dict[str, float]], notes: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = " ".join(["benchmarks/dashboard_pages.py", *sys.argv[1:]])
    return (
        f"Measured {when} with `.venv/bin/python {command}`: {args.jobs:,} jobs per storage; "
        f"median of {args.repeat} requests per page through Starlette's TestClient, in ms "
        f"(✓ under {LIMIT_MS:.0f} ms). Python {platform.python_version()}, "
        f"{platform.machine()}.\n\n{notes}\n{table(results)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storages", default=",".join(STORAGES))
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page (median)")
    parser.add_argument("--quick", action="store_true", help="20,000 jobs, 3 requests per page")
    parser.add_argument("--readme", choices=("auto", "yes", "no"), default="auto")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.repeat = 20_000, 3
    results: dict[str, dict[str, float]] = {}
    notes = []
    for kind in args.storages.split(","):
        with fresh(kind) as namespace:
            print(f"{TITLES[kind]}: seeding {args.jobs:,} jobs", flush=True)
            seeded = seed(namespace.url, args.jobs, lambda line: print(line, flush=True))
            rate = seeded.jobs / seeded.seconds
            notes.append(f"- {TITLES[kind]}: seeded in {seeded.seconds:.0f} s ({rate:,.0f} jobs/s)")
            print(notes[-1], flush=True)
            settle(namespace)
            results[kind] = time_pages(namespace.url, seeded, args.repeat)
    text = report(args, results, "\n".join(notes) + "\n")
    print(text)
    slow = [label for values in results.values() for label, ms in values.items() if ms >= LIMIT_MS]
    if args.readme == "yes" or (args.readme == "auto" and not args.quick):
        write_readme(text)
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
