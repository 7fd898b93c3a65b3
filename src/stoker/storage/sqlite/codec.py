"""How the SQLite storage stores values: integer microseconds for times, JSON text, job ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_INT64_MAX = 2**63 - 1

dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
loads = json.loads


def to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact, no float rounding)."""
    return (value - EPOCH) // _MICROSECOND


def to_us_or_none(value: datetime | None) -> int | None:
    return None if value is None else (value - EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    """The aware UTC datetime of a stored time."""
    return EPOCH + timedelta(microseconds=value)


def from_us_or_none(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def dumps_mapping(value: Mapping[str, Any]) -> str:
    return dumps(value if isinstance(value, dict) else dict(value))


def parse_job_id(job_id: str) -> int | None:
    """The integer behind a job id string; None for anything that cannot be one of ours."""
    text = job_id.strip() if isinstance(job_id, str) else ""
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value <= _INT64_MAX else None
