"""Scheduled jobs listed by due time: `Monitor.list_jobs("Scheduled", by_due=True)`.

The order is the job's run_at, then its id ascending (soonest first), or run_at descending with
ties STILL by id ascending (latest first). Every storage keeps Scheduled jobs in a due index
ordered by (run_at, id); the latest-first order is not that index walked backwards, which puts
ties by id DESCENDING, and sorting to fix it would read every job of a tie group (bulk schedules
share their run_at). So a latest-first page is read backwards (the same jobs at the same
positions, only the order inside each group of equal run_at differs) and then put right:

- a group wholly on the page is reversed;
- the page's first group is read again, ascending by id, skipping its members that come before
  the page (the page's offset minus the number of jobs due later);
- the page's last group is the lowest ids of that group.

Without a queue filter each read is an index range of at most offset + limit entries, never a
sort; storages without a per-queue due index filter those ranges (see each storage)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from typing import TypeVar

Due = TypeVar("Due")  # a due time, as the storage stores it
Id = TypeVar("Id")  # a job id, as the storage stores it


def check_by_due(state: str, search: str | None) -> None:
    """Refuse the listings `by_due=True` does not apply to."""
    if state != "Scheduled":
        raise ValueError(
            f"by_due=True orders Scheduled jobs by their due time; {state!r} jobs have none"
        )
    if search:
        raise ValueError(
            "by_due=True cannot be combined with search: search results are ordered by the "
            "time jobs entered their state"
        )


def latest_first(
    keys: Sequence[tuple[Due, Id]],
    offset: int,
    count_later: Callable[[Due], int],
    tied: Callable[[Due, int, int], Sequence[Id]],
) -> list[Id]:
    """The ids of a latest-first page, ties by id ascending.

    `keys` are the page's (run_at, id) as read from the due index walked backwards, starting at
    position `offset`; `count_later(due)` is the number of listed jobs due after `due`, and
    `tied(due, skip, count)` the ids of those due at `due`, ascending, after the first `skip`.
    Both must read the same snapshot as `keys`."""
    groups = [(due, [job_id for _, job_id in group]) for due, group in groupby(keys, _due)]
    ids: list[Id] = []
    for number, (due, members) in enumerate(groups):
        if number == 0:
            ids.extend(tied(due, offset - count_later(due), len(members)))
        elif number == len(groups) - 1:
            ids.extend(tied(due, 0, len(members)))
        else:
            ids.extend(reversed(members))
    return ids


def _due(key: tuple[Due, Id]) -> Due:
    return key[0]
