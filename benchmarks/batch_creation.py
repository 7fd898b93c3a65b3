"""How fast a batch of N jobs is created, next to a bulk enqueue of as many, per storage.

Each round creates N no-op jobs with `enqueue_many` and, in another fresh namespace, a batch of
N jobs with one continuation (`with app.batch() as batch: batch.enqueue_many(...)`),
alternating; it prints the median jobs per second of each and the batch's ratio to the bulk.

    .venv/bin/python benchmarks/batch_creation.py [--storages sqlite,postgres,redis]
        [--jobs 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import stoker
from benchmarks import namespaces
from benchmarks.jobs import noop
from benchmarks.ratios import print_table


def bulk(app: stoker.App, calls: list[tuple[()]]) -> None:
    app.enqueue_many(noop, calls)


def batch(app: stoker.App, calls: list[tuple[()]]) -> None:
    with app.batch("benchmark") as made:
        made.enqueue_many(noop, calls)
        made.then(noop)


WAYS = {"enqueue_many": bulk, "batch": batch}


def rate(storage: str, way: str, jobs: int) -> float:
    calls: list[tuple[()]] = [() for _ in range(jobs)]
    with namespaces.fresh(storage) as namespace:
        app = stoker.App(namespace.url)
        try:
            started = time.perf_counter()
            WAYS[way](app, calls)
            return jobs / (time.perf_counter() - started)
        finally:
            app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storages", default="sqlite,postgres,redis")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    print_table(
        options.storages.split(","),
        list(WAYS),
        options.rounds,
        lambda storage, way: rate(storage, way, options.jobs),
    )
    print(f"(jobs created per second, medians of {options.rounds} rounds x {options.jobs})")


if __name__ == "__main__":
    main()
