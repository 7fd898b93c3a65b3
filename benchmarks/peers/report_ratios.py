"""Ratios stoker ÷ each peer on the same storage, and stoker's place against the best peer."""

from __future__ import annotations

from benchmarks.peers.report import METRICS, Results, median, number
from benchmarks.peers.systems import SYSTEMS


def on(results: Results, storage: str) -> tuple[str | None, list[str]]:
    systems = [key for key in results if SYSTEMS[key].storage == storage]
    stoker = next((key for key in systems if SYSTEMS[key].is_stoker), None)
    return stoker, [key for key in systems if not SYSTEMS[key].is_stoker]


def ratio(value: float) -> str:
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def ratio_table(results: Results, storage: str) -> list[str]:
    """stoker ÷ peer per metric: above 1 stoker is faster for rates, slower for latency/memory."""
    stoker, peers = on(results, storage)
    if stoker is None or not peers:
        return []
    lines = ["| stoker ÷ | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
    for title, workload, key, _ in METRICS:
        ours = median(results, stoker, workload, key)
        row = []
        for peer in peers:
            theirs = median(results, peer, workload, key)
            row.append(ratio(ours / theirs) if ours and theirs else "—")
        lines.append(f"| {title} | " + " | ".join(row) + " |")
    return lines


def place_table(results: Results, storage: str) -> list[str]:
    """Per metric: the best peer, stoker, and stoker's rank among all systems on the storage."""
    stoker, peers = on(results, storage)
    if stoker is None or not peers:
        return []
    lines = ["| metric | best peer | stoker | stoker's place |", "|---|---|---:|---|"]
    for title, workload, key, higher in METRICS:
        ours = median(results, stoker, workload, key)
        measured = [(v, p) for p in peers if (v := median(results, p, workload, key)) is not None]
        if ours is None or not measured:
            continue
        best_value, best = max(measured) if higher else min(measured)
        better = sum(1 for v, _ in measured if (v > ours if higher else v < ours))
        place = f"{better + 1} of {len(measured) + 1}"
        factor = ours / best_value
        verdict = "ahead of" if (factor >= 1) == higher else "behind"
        lines.append(
            f"| {title} | {best} {number(best_value)} | {number(ours)} | {place}, "
            f"{verdict} the best (stoker ÷ best {factor:.2f}) |"
        )
    return lines
