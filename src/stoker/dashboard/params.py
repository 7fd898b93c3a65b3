"""Query parameters of the list pages: parsed, clamped, or rejected with a clear 400."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from starlette.exceptions import HTTPException

from stoker.core.states import STATE_NAMES
from stoker.dashboard.config import DEFAULT_PAGE_SIZE, MAX_SEARCH_LENGTH, PAGE_SIZES

STATE_SLUGS: dict[str, str] = {name.lower(): name for name in STATE_NAMES}
_INTEGER = re.compile(r"[+-]?[0-9]{1,100}")
MAX_QUEUE_LENGTH = 200
SORTS = ("newest", "oldest")  # by the time jobs entered the state
DUE_SORTS = ("due", "due-last")  # Scheduled jobs by due time: soonest or latest first


def state_from_slug(slug: str) -> str:
    """'failed' -> 'Failed'; 404 for anything that is not a state."""
    state = STATE_SLUGS.get(slug.lower())
    if state is None:
        raise HTTPException(
            404, f"There is no job state {slug[:50]!r}. States: {', '.join(STATE_NAMES)}."
        )
    return state


def _integer(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not _INTEGER.fullmatch(raw.strip()):
        raise HTTPException(400, f"The {name} parameter must be a whole number, got {raw[:50]!r}.")
    return int(raw)


def clean_text(raw: str | None, limit: int = MAX_SEARCH_LENGTH) -> str | None:
    """Search text without control characters (PostgreSQL rejects NUL), at most `limit` long."""
    if raw is None:
        return None
    text = "".join(ch for ch in raw if ch.isprintable() or ch == " ").strip()[:limit]
    return text or None


@dataclass(frozen=True)
class ListQuery:
    """What a job list shows: state, filters, sort and page."""

    state: str
    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    newest_first: bool = True
    search: str | None = None
    queue: str | None = None
    by_due: bool = False  # Scheduled only: by due time (soonest first unless newest_first)

    @classmethod
    def parse(cls, state: str, params: Mapping[str, str]) -> ListQuery:
        # Out-of-range numbers are clamped (a stale link still shows something useful);
        # text where a number belongs is an error the user should see.
        page = max(1, _integer(params, "page", 1))
        size = _integer(params, "size", DEFAULT_PAGE_SIZE)
        size = min(PAGE_SIZES, key=lambda allowed: (abs(allowed - size), allowed))
        sort = params.get("sort", "newest")
        sorts = SORTS + (DUE_SORTS if state == "Scheduled" else ())
        if sort not in sorts:
            names = ", ".join(f"'{name}'" for name in sorts)
            raise HTTPException(400, f"sort must be one of {names}, got {sort[:50]!r}.")
        queue = params.get("queue") or None
        if queue is not None and (len(queue) > MAX_QUEUE_LENGTH or not queue.isprintable()):
            raise HTTPException(400, "The queue parameter is not a queue name.")
        return cls(
            state=state,
            page=page,
            size=size,
            newest_first=sort in ("newest", "due-last"),
            search=clean_text(params.get("q")),
            queue=queue,
            by_due=sort in DUE_SORTS,
        )

    @property
    def sort(self) -> str:
        if self.by_due:
            return "due-last" if self.newest_first else "due"
        return "newest" if self.newest_first else "oldest"

    def pages(self, total: int) -> int:
        return max(1, math.ceil(total / self.size))

    def clamped(self, total: int) -> ListQuery:
        return replace(self, page=min(self.page, self.pages(total)))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    def query_string(self, **changes: object) -> str:
        """This query's parameters (with `changes`), for links to other pages and sorts."""
        values: dict[str, object] = {
            "q": self.search,
            "queue": self.queue,
            "sort": self.sort,
            "size": self.size,
            "page": self.page,
        }
        values.update(changes)
        kept = {key: value for key, value in values.items() if value not in (None, "")}
        if kept.get("sort") == "newest":
            del kept["sort"]
        if kept.get("size") == DEFAULT_PAGE_SIZE:
            del kept["size"]
        if kept.get("page") == 1:
            del kept["page"]
        return "?" + urlencode(kept) if kept else ""
