"""The top bar's job lookup: a job by its id in any state, else text matches in every state."""

from __future__ import annotations

from dataclasses import dataclass

from stoker.core.protocols import Monitor
from stoker.core.search import ascii_lower, searched_id
from stoker.core.states import STATE_NAMES
from stoker.dashboard.system import RecurringRow
from stoker.dashboard.views import JobRow, job_row

# Matches shown per state; the state's own list (linked) pages through all of them.
PER_STATE = 10


@dataclass(frozen=True)
class StateMatches:
    state: str
    total: int
    rows: tuple[JobRow, ...]


@dataclass(frozen=True)
class Lookup:
    """What a lookup found: a job to open at once, or the matches of every state."""

    text: str
    job_id: str | None
    states: tuple[StateMatches, ...] = ()
    window: int = 0

    @property
    def looks_like_id(self) -> bool:
        return searched_id(self.text).isdigit()

    @property
    def total(self) -> int:
        return sum(matches.total for matches in self.states)


def find_job(monitor: Monitor, text: str) -> Lookup:
    """An id ("953" or "#953") of a stored job opens it, whatever its state; anything else
    is searched for in every state, as each state's list would (bounded per state)."""
    candidate = searched_id(text)
    job = monitor.job_details(candidate) if candidate else None
    if job is not None:
        return Lookup(text, job.job.id)
    found: list[StateMatches] = []
    window = 0
    for state in STATE_NAMES:
        result = monitor.search_jobs(state, text, limit=PER_STATE)
        window = result.window
        if result.total:
            found.append(StateMatches(state, result.total, tuple(map(job_row, result.jobs))))
    return Lookup(text, None, tuple(found), window)


def matching_recurring(rows: list[RecurringRow], text: str | None) -> list[RecurringRow]:
    """Recurring jobs whose id, function, cron expression or queue contains `text`
    (case-insensitive for ASCII letters, as the job search)."""
    if not text:
        return rows
    needle = ascii_lower(text)
    return [
        row
        for row in rows
        if any(
            needle in ascii_lower(value)
            for value in (row.record.id, row.record.function, row.record.cron, row.record.queue)
        )
    ]
