"""Time as the rest of stoker sees it: an injectable clock of aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time; tests inject a fake one."""

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def ensure_aware_utc(value: datetime, what: str = "datetime") -> datetime:
    """Return `value` in UTC; reject naive datetimes, whose meaning is ambiguous."""
    if value.tzinfo is UTC:
        return value  # the common case (every clock here), on the hot path of every change
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{what} must be timezone-aware (got naive {value.isoformat()}); "
            "use datetime.now(UTC) or attach a zoneinfo.ZoneInfo"
        )
    return value.astimezone(UTC)
