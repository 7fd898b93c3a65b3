"""Search in job lists, the same on every storage: bounded, so a page never scans every job.

`Monitor.list_jobs(search=...)` / `count_jobs(search=...)` match:
- the job whose id equals the search text (without a leading '#': "#953" finds job 953), if
  it is in the listed state (and queue): a primary-key lookup, whatever the job's age;
- jobs whose function name or argument text contains the search text (case-insensitive for
  ASCII letters), among the newest `search_window` jobs of the state (and queue), newest first.
  Substring matches have no index on any storage, so they are looked for in a window of known
  size rather than in every job: a page of a million Succeeded jobs stays fast, and the page
  says which jobs were searched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from stoker.core.records import JobRecord, SearchResult

# How many of a state's newest jobs a text search looks at (each storage's `search_window`).
SEARCH_WINDOW = 10_000

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only: what SQLite's LIKE and Lua's string.lower compare, so
    every storage matches the same jobs."""
    return text.translate(_ASCII_LOWER)


def searched_id(search: str) -> str:
    """The job id a search names: its text without spaces and one leading '#', since the
    dashboard shows ids as "#953" and people paste them so; leading zeros dropped ("0953" is
    953 on every storage, as SQL's integer ids already read it)."""
    text = search.strip().removeprefix("#").strip()
    if text.isascii() and text.isdigit() and len(text) < 30:
        return str(int(text))
    return text


def like_pattern(term: str) -> str:
    """A LIKE/ILIKE pattern (ESCAPE '\\') for `term` as a substring, wildcards escaped."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def text_matches(needle: str, *texts: str | None) -> bool:
    """`needle` (already ascii_lower-ed) is in one of the texts."""
    return any(text is not None and needle in ascii_lower(text) for text in texts)


def merge_id_match(matches: list[tuple[Any, str]], by_id: tuple[Any, str] | None) -> list[str]:
    """Ids newest first: the window's matches (sorted by their order key, newest first) with
    the job found by its id put in its place, once."""
    if by_id is not None and all(job_id != by_id[1] for _, job_id in matches):
        matches = sorted([*matches, by_id], key=lambda item: item[0], reverse=True)
    return [job_id for _, job_id in matches]


def page_of(ids: Sequence[str], offset: int, limit: int, newest_first: bool) -> list[str]:
    """One page of matches listed newest first, in the requested order."""
    ordered = list(ids) if newest_first else list(reversed(ids))
    return ordered[max(0, offset) : max(0, offset) + max(0, limit)]


class SearchedPages(ABC):
    """`Monitor.search_jobs` for every storage: one evaluation of the search gives both the
    page and the number of matches. A storage supplies the two lookups."""

    search_window: int = SEARCH_WINDOW  # tests lower it on one instance

    @abstractmethod
    def _search_ids(self, state: str, queue: str | None, search: str) -> list[str]:
        """Ids of the matches, newest first (see the module docstring)."""

    @abstractmethod
    def _records_by_ids(self, ids: Sequence[str]) -> list[JobRecord]:
        """The records of these jobs, in this order (ids no longer stored are left out)."""

    def search_jobs(
        self,
        state: str,
        search: str,
        *,
        queue: str | None = None,
        offset: int = 0,
        limit: int = 50,
        newest_first: bool = True,
    ) -> SearchResult:
        ids = self._search_ids(state, queue, search)
        page = self._records_by_ids(page_of(ids, offset, limit, newest_first))
        return SearchResult(len(ids), tuple(page), self.search_window)
