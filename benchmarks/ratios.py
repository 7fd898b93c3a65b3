"""The table the overhead benchmarks print: each way's median rate and its ratio to the first."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence


def print_table(
    storages: Sequence[str], ways: Sequence[str], rounds: int, rate: Callable[[str, str], float]
) -> None:
    """One row per storage: `rate(storage, way)` measured `rounds` times per way, the ways
    alternating within each round so a slow moment hits them all; medians, and the ratio of
    each to the first way's."""
    print("| storage | " + " | ".join(ways) + " |")
    print("|---|" + "---:|" * len(ways))
    for storage in storages:
        rates: dict[str, list[float]] = {way: [] for way in ways}
        for _ in range(rounds):
            for way in ways:
                rates[way].append(rate(storage, way))
        base = statistics.median(rates[ways[0]])
        cells = [
            f"{statistics.median(values):,.0f} ({statistics.median(values) / base:.2f}x)"
            for values in rates.values()
        ]
        print(f"| {storage} | " + " | ".join(cells) + " |")
