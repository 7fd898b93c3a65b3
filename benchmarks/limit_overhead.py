"""What a unique key, a concurrency limit and a rate limit cost end to end, per storage.

Each round runs N no-op jobs four ways into a fresh namespace, alternating the ways: an
embedded server with W workers runs while the jobs are enqueued one call at a time, and the
clock stops when the last one Succeeded. The limits never bind (a concurrency of 10,000, a
rate of 1,000,000/s): what is measured is the price of checking them, an extra storage step
before a limited job runs and one after (its slot's release). Prints the median rate of each
way and its ratio to the plain one.

    .venv/bin/python benchmarks/limit_overhead.py [--storages sqlite,postgres,redis]
        [--jobs 2000] [--workers 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import stoker
from benchmarks import namespaces
from benchmarks.jobs import noop
from benchmarks.ratios import print_table

Way = Callable[[stoker.App, int], None]


def plain(app: stoker.App, n: int) -> None:
    app.enqueue(noop)


def unique_key(app: stoker.App, n: int) -> None:
    app.with_options(unique_key=f"k{n}").enqueue(noop)


def concurrency_limit(app: stoker.App, n: int) -> None:
    app.with_options(concurrency_key="tenant", concurrency=10_000).enqueue(noop)


def rate_limit(app: stoker.App, n: int) -> None:
    app.with_options(rate_key="api", rate_limit="100000/s").enqueue(noop)


WAYS: dict[str, Way] = {
    "plain": plain,
    "unique key": unique_key,
    "concurrency limit": concurrency_limit,
    "rate limit": rate_limit,
}


def rate(storage: str, way: Way, jobs: int, workers: int) -> float:
    with namespaces.fresh(storage) as namespace:
        app = stoker.App(namespace.url)
        try:
            with app.server(workers=workers, poll_interval=0.05, scheduler_interval=0.2):
                return _timed(app, way, jobs)
        finally:
            app.close()


def _timed(app: stoker.App, way: Way, jobs: int) -> float:
    """Jobs per second from the first enqueue to the last job Succeeded."""
    started = time.perf_counter()
    for n in range(jobs):
        way(app, n)
    while app.storage.count_by_state()["Succeeded"] < jobs:
        time.sleep(0.01)
    return jobs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storages", default="sqlite,postgres,redis")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    print_table(
        options.storages.split(","),
        list(WAYS),
        options.rounds,
        lambda storage, way: rate(storage, WAYS[way], options.jobs, options.workers),
    )
    print(
        f"(jobs per second end to end, {options.workers} workers, medians of {options.rounds} "
        f"rounds x {options.jobs})"
    )


if __name__ == "__main__":
    main()
