"""Cron expressions: validation, macros, time zones and the next occurrences of a schedule.

We use cronsim rather than croniter: it is small, typed, maintained, supports an optional leading
seconds field, `L`/`W`/`#` and, for 5-field expressions, follows Debian cron across DST changes
(a job at 02:30 runs once on the day the clocks jump over 02:30, and once on the day 02:30 happens
twice). croniter's DST handling has a long list of open issues and the project was deprecated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from stoker.core.errors import CronError

MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
    "@minutely": "* * * * *",
    "@secondly": "* * * * * *",
}
MAX_CRON_LENGTH = 200


def parse_timezone(name: str) -> ZoneInfo:
    """A zoneinfo time zone, or a CronError naming the bad value."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise CronError(f"time zone must be an IANA name such as 'Europe/Berlin', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None


def normalize(expression: str) -> str:
    """The expression with macros expanded; a CronError if it is not valid cron."""
    if not isinstance(expression, str):
        raise CronError(f"a cron expression is a string, got {expression!r}")
    text = " ".join(expression.split())
    if not text or len(text) > MAX_CRON_LENGTH:
        raise CronError(f"invalid cron expression {expression!r}: empty or too long")
    expanded = MACROS.get(text.lower(), text)
    if expanded.startswith("@"):
        raise CronError(f"unknown cron macro {text!r}; known: {', '.join(sorted(MACROS))}")
    fields = expanded.split()
    if len(fields) not in (5, 6):
        raise CronError(
            f"invalid cron expression {expression!r}: expected 5 fields (minute hour day month "
            f"weekday) or 6 with leading seconds, got {len(fields)}"
        )
    try:
        CronSim(expanded, datetime(2000, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError, KeyError, IndexError) as exc:
        raise CronError(f"invalid cron expression {expression!r}: {exc}") from None
    return expanded


@dataclass(frozen=True)
class Schedule:
    """A validated cron expression in a time zone."""

    expression: str
    timezone: str

    @classmethod
    def parse(cls, expression: str, timezone: str = "UTC") -> Schedule:
        parse_timezone(timezone)
        return cls(normalize(expression), timezone)

    def occurrences_after(self, moment: datetime) -> Iterator[datetime]:
        """Occurrences strictly after `moment`, as aware UTC datetimes, forever."""
        zone = parse_timezone(self.timezone)
        local = moment.astimezone(zone)
        fields = self.expression.split()
        if len(fields) == 5:
            for occurrence in CronSim(self.expression, local):
                yield occurrence.astimezone(UTC)
            return
        yield from _with_seconds(fields[0], " ".join(fields[1:]), local)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first occurrence after `moment`; None if the expression never fires again."""
        try:
            return next(self.occurrences_after(moment))
        except (StopIteration, CronSimError):
            return None

    def missed_between(self, first: datetime, now: datetime, cap: int) -> list[datetime]:
        """Occurrences in [first, now], oldest first, at most `cap` (the newest kept)."""
        found: list[datetime] = []
        if first <= now:
            found.append(first)
        for occurrence in self.occurrences_after(first):
            if occurrence > now:
                break
            found.append(occurrence)
            if len(found) > cap:
                found.pop(0)
        return found

    def describe(self) -> str:
        """The schedule in words, e.g. 'At 03:00 every day'."""
        try:
            return str(CronSim(self.expression, datetime(2000, 1, 1, tzinfo=UTC)).explain())
        except Exception:  # explain() is best-effort; the raw expression is always shown too
            return self.expression


def _with_seconds(seconds_field: str, minutes: str, local: datetime) -> Iterator[datetime]:
    """6-field schedules: minutes from the 5-field rule, then the seconds within each minute.

    cronsim follows Debian cron across DST changes only for 5-field expressions; with a seconds
    field it skips the spring-forward day and fires twice on the fall-back day. Taking the
    minutes from the 5-field expression keeps one DST behaviour for both forms.
    """
    seconds = _matching_seconds(seconds_field)
    minute_start = local.replace(second=0, microsecond=0)
    after = moment_utc = local.astimezone(UTC)
    for minute in CronSim(minutes, minute_start - timedelta(microseconds=1)):
        base = minute.astimezone(UTC)
        for second in seconds:
            occurrence = base + timedelta(seconds=second)
            if occurrence > moment_utc and occurrence > after:
                after = occurrence
                yield occurrence


def _matching_seconds(field: str) -> tuple[int, ...]:
    """The seconds 0..59 that a cron seconds field selects."""
    start = datetime(2000, 1, 1, tzinfo=UTC)
    found: list[int] = []
    for occurrence in CronSim(f"{field} * * * * *", start - timedelta(microseconds=1)):
        if occurrence >= start + timedelta(minutes=1):
            break
        found.append(occurrence.second)
    return tuple(found)


def misfire_grace(interval_hint: timedelta | None = None) -> timedelta:
    """How late an occurrence may fire and still count as on time (for the 'skip' policy)."""
    return max(timedelta(seconds=60), interval_hint or timedelta(0))
