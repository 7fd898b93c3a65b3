"""Concurrency and rate limits: the job parameters that carry them, parsed and checked."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stoker.core import reasons
from stoker.core.errors import JobDefinitionError
from stoker.core.records import StateRecord

# The job parameters a limit is stored in (so the dashboard shows them, and a worker of any
# version reads them back). Without a key, a limit is keyed on the job's function.
CONCURRENCY_PARAM = "concurrency"
CONCURRENCY_KEY_PARAM = "concurrency_key"
RATE_LIMIT_PARAM = "rate_limit"
RATE_KEY_PARAM = "rate_key"
MAX_CONCURRENCY = 100_000
MAX_RATE_COUNT = 100_000
MAX_LIMIT_KEY = 200
MAX_RATE_PERIOD = 366 * 86400.0  # seconds: beyond a year a period is surely a unit mistake
# How long a start reserved under a rate limit waits for its job past its turn's window (a
# backlog, an outage) before a storage forgets it; a job back later gets a new turn.
RESERVATION_GRACE = 3600.0

_UNITS: Mapping[str, float] = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1.0),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Rate:
    """At most `count` starts in any `period` seconds (a sliding window)."""

    count: int
    period: float
    text: str  # as the user wrote it, normalised ("100/m"), for history and the dashboard


def parse_rate(text: object) -> Rate:
    """'100/m', '5/s', '10/30s', '1000/h', '2/d': N starts per period; ValueError names the
    problem in anything else."""
    if not isinstance(text, str):
        raise JobDefinitionError(f"a rate limit is text like '100/m', got {text!r}")
    found = _RATE.fullmatch(text)
    unit = _UNITS.get(found.group(3).lower()) if found else None
    if found is None or unit is None:
        raise JobDefinitionError(
            f"malformed rate limit {text!r}: write N/unit with unit s, m, h or d "
            "(e.g. '100/m', '10/30s')"
        )
    count = int(found.group(1))
    period = float(found.group(2) or 1) * unit
    if not 1 <= count <= MAX_RATE_COUNT or not math.isfinite(period) or period <= 0:
        raise JobDefinitionError(
            f"rate limit {text!r} must allow 1 to {MAX_RATE_COUNT} starts per positive period"
        )
    if period > MAX_RATE_PERIOD:
        raise JobDefinitionError(f"rate limit {text!r}: the period must be at most 366 days")
    normal = f"{count}/{found.group(2) or ''}{found.group(3).lower()}"
    return Rate(count=count, period=period, text=normal)


def validate_concurrency(value: object) -> int:
    """A concurrency limit is a whole number of jobs from 1 up."""
    if not isinstance(value, int) or isinstance(value, bool) or not value >= 1:
        raise JobDefinitionError(f"concurrency must be an int >= 1, got {value!r}")
    if value > MAX_CONCURRENCY:
        raise JobDefinitionError(f"concurrency must be at most {MAX_CONCURRENCY}, got {value}")
    return value


def validate_limit_key(key: object, what: str) -> str:
    """A concurrency or rate key is printable text of 1 to 200 characters."""
    if not isinstance(key, str) or not key or len(key) > MAX_LIMIT_KEY or not key.isprintable():
        raise JobDefinitionError(
            f"a {what} is printable text of 1 to {MAX_LIMIT_KEY} characters, got {key!r}"
        )
    return key


@dataclass(frozen=True)
class JobLimits:
    """The limits a job runs under: a concurrency slot of `concurrency_key` (at most
    `concurrency` such jobs in Processing, across all servers) and/or a start allowed by
    `rate` on `rate_key`."""

    concurrency_key: str | None = None
    concurrency: int = 0
    rate_key: str | None = None
    rate: Rate | None = None

    def waiting_record(self, queue: str, now: datetime) -> StateRecord:
        """The Awaiting state of a job parked until a slot of its key is free."""
        key = self.concurrency_key or ""
        data = {CONCURRENCY_KEY_PARAM: key, CONCURRENCY_PARAM: self.concurrency, "queue": queue}
        return StateRecord("Awaiting", now, reasons.waiting_for_slot(key, self.concurrency), data)


def limits_of(function: str, params: Mapping[str, Any]) -> JobLimits | None:
    """The limits stored in a job's params (None for a job without any: the common case is
    two dictionary lookups). A key without its limit was refused at enqueue (check_limits)."""
    concurrency = params.get(CONCURRENCY_PARAM)
    rate_text = params.get(RATE_LIMIT_PARAM)
    if concurrency is None and rate_text is None:
        return None
    # Params can be written by anything with access to the storage: check them as the
    # enqueue did, so a worker fails such a job instead of tripping over it.
    key = params.get(CONCURRENCY_KEY_PARAM)
    rate_key = params.get(RATE_KEY_PARAM)
    return JobLimits(
        concurrency_key=_key_or(key, function, "concurrency key") if concurrency else None,
        concurrency=validate_concurrency(concurrency) if concurrency is not None else 0,
        rate_key=_key_or(rate_key, function, "rate key") if rate_text else None,
        rate=parse_rate(rate_text) if rate_text is not None else None,
    )


def _key_or(key: object, function: str, what: str) -> str:
    return function if key is None else validate_limit_key(key, what)


def limit_params(
    concurrency: int | None,
    concurrency_key: str | None,
    rate_limit: str | None,
    rate_key: str | None,
) -> dict[str, Any]:
    """The job params of the limit options that are set (already validated)."""
    values = {
        CONCURRENCY_PARAM: concurrency,
        CONCURRENCY_KEY_PARAM: concurrency_key,
        RATE_LIMIT_PARAM: parse_rate(rate_limit).text if rate_limit is not None else None,
        RATE_KEY_PARAM: rate_key,
    }
    return {name: value for name, value in values.items() if value is not None}


def check_limits(function: str, params: Mapping[str, Any]) -> None:
    """Refuse, at enqueue, a key given without the limit it is for."""
    if params.get(CONCURRENCY_KEY_PARAM) is not None and params.get(CONCURRENCY_PARAM) is None:
        raise JobDefinitionError(
            f"{function}: concurrency_key needs a limit: with_options(concurrency_key=..., "
            "concurrency=N) or @stoker.job(concurrency=N)"
        )
    if params.get(RATE_KEY_PARAM) is not None and params.get(RATE_LIMIT_PARAM) is None:
        raise JobDefinitionError(
            f"{function}: rate_key needs a limit: with_options(rate_key=..., rate_limit='N/m') "
            "or @stoker.job(rate_limit='N/m')"
        )
