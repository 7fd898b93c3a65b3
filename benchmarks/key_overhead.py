"""What an idempotency key and a unique key cost a single enqueue, per storage.

Each round enqueues N jobs one call at a time four ways (no key; no key through a new
`with_options` view per call, which keyed calls need; a fresh idempotency key per job; a fresh
unique key per job) into a fresh namespace, alternating the ways; it prints the median rate of
each way and its ratio to the keyless one.

    .venv/bin/python benchmarks/key_overhead.py [--storages sqlite,postgres,redis] [--jobs 2000]
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


def no_key(app: stoker.App, n: int) -> None:
    app.enqueue(noop)


def no_key_new_view(app: stoker.App, n: int) -> None:
    app.with_options(misfire="once").enqueue(noop)  # a new view per call, as keyed calls make


def idempotency_key(app: stoker.App, n: int) -> None:
    app.with_options(idempotency_key=f"k{n}").enqueue(noop)


def unique_key(app: stoker.App, n: int) -> None:
    app.with_options(unique_key=f"k{n}").enqueue(noop)


WAYS: dict[str, Way] = {
    "no key": no_key,
    "no key, a with_options view per call": no_key_new_view,
    "idempotency key": idempotency_key,
    "unique key": unique_key,
}


def rate(storage: str, way: Way, jobs: int) -> float:
    with namespaces.fresh(storage) as namespace:
        app = stoker.App(namespace.url)
        try:
            return _timed(app, way, jobs)
        finally:
            app.close()


def _timed(app: stoker.App, way: Way, jobs: int) -> float:
    for n in range(50):  # warm-up: connections, plans, caches
        way(app, -n - 1)
    started = time.perf_counter()
    for n in range(jobs):
        way(app, n)
    return jobs / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storages", default="sqlite,postgres,redis")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    print_table(
        options.storages.split(","),
        list(WAYS),
        options.rounds,
        lambda storage, way: rate(storage, WAYS[way], options.jobs),
    )
    print(f"(single enqueues per second, medians of {options.rounds} rounds x {options.jobs})")


if __name__ == "__main__":
    main()
