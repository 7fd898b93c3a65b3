"""Cron expressions: macros, seconds, validation, time zones and DST (Europe/Berlin)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stoker.core.cron import MACROS, Schedule, normalize, parse_timezone
from stoker.core.errors import CronError

BERLIN = ZoneInfo("Europe/Berlin")


def local_runs(
    expression: str, start: datetime, count: int, tz: str = "Europe/Berlin"
) -> list[str]:
    schedule = Schedule.parse(expression, tz)
    runs = schedule.occurrences_after(start)
    return [next(runs).astimezone(ZoneInfo(tz)).isoformat() for _ in range(count)]


@pytest.mark.parametrize(("macro", "expanded"), sorted(MACROS.items()))
def test_macros_expand_case_insensitively(macro: str, expanded: str) -> None:
    assert normalize(macro) == expanded
    assert normalize(f"  {macro.upper()} ") == expanded


def test_extra_whitespace_is_normalized() -> None:
    assert normalize(" 0   3 *\t* * ") == "0 3 * * *"


def test_daily_macro_fires_at_midnight_in_its_time_zone() -> None:
    start = datetime(2030, 6, 1, 12, tzinfo=UTC)
    assert local_runs("@daily", start, 2) == [
        "2030-06-02T00:00:00+02:00",
        "2030-06-03T00:00:00+02:00",
    ]


def test_six_fields_mean_a_leading_seconds_field() -> None:
    start = datetime(2030, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert local_runs("*/20 * * * * *", start, 3, tz="UTC") == [
        "2030-01-01T00:00:20+00:00",
        "2030-01-01T00:00:40+00:00",
        "2030-01-01T00:01:00+00:00",
    ]


def test_next_after_is_strictly_after_the_moment() -> None:
    at_three = datetime(2030, 1, 1, 3, 0, tzinfo=UTC)
    assert Schedule.parse("0 3 * * *").next_after(at_three) == at_three + timedelta(days=1)
    assert Schedule.parse("0 3 * * *").next_after(at_three - timedelta(microseconds=1)) == at_three


def test_next_after_of_a_schedule_cronsim_cannot_iterate_is_none_not_an_error() -> None:
    schedule = Schedule("0 0 31 2 *", "UTC")  # built directly: parse() would refuse it
    assert schedule.next_after(datetime(2030, 1, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "* * * *",
        "* * * * * * *",
        "61 * * * *",
        "* 24 * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "*/0 * * * *",
        "0 0 30 2 *",
        "five * * * *",
        "@reboot",
        "@every 5m",
        "x" * 300,
        "1-",
        "* * * * MON-",
    ],
)
def test_invalid_expressions_raise_cron_error_naming_the_problem(expression: str) -> None:
    with pytest.raises(CronError, match="cron"):
        normalize(expression)


def test_an_expression_that_is_not_a_string_raises_cron_error() -> None:
    with pytest.raises(CronError, match="is a string"):
        normalize(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "zone",
    ["", "Mars/Olympus", "Europe/berlin ", "../../etc/passwd", "/etc/localtime", "x" * 100, None],
)
def test_invalid_time_zones_raise_cron_error(zone: object) -> None:
    with pytest.raises(CronError, match="time zone"):
        parse_timezone(zone)  # type: ignore[arg-type]


def test_cron_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        Schedule.parse("nope", "UTC")


# --- DST in Europe/Berlin (2030: spring forward on March 31, fall back on October 27) ---------


def test_daily_job_in_the_skipped_hour_fires_once_at_three_on_spring_forward() -> None:
    start = datetime(2030, 3, 30, 12, tzinfo=BERLIN)
    assert local_runs("30 2 * * *", start, 3) == [
        "2030-03-31T03:00:00+02:00",
        "2030-04-01T02:30:00+02:00",
        "2030-04-02T02:30:00+02:00",
    ]


def test_daily_job_in_the_repeated_hour_fires_once_on_fall_back() -> None:
    start = datetime(2030, 10, 26, 12, tzinfo=BERLIN)
    assert local_runs("30 2 * * *", start, 2) == [
        "2030-10-27T02:30:00+02:00",
        "2030-10-28T02:30:00+01:00",
    ]


def test_daily_job_outside_the_changed_hour_keeps_its_local_time() -> None:
    start = datetime(2030, 3, 30, 0, 0, tzinfo=BERLIN)
    runs = Schedule.parse("0 9 * * *", "Europe/Berlin").occurrences_after(start)
    first, second = next(runs), next(runs)
    assert second - first == timedelta(hours=23)  # the local day was one hour short
    assert first.astimezone(BERLIN).hour == second.astimezone(BERLIN).hour == 9


def test_hourly_job_runs_every_real_hour_across_fall_back() -> None:
    start = datetime(2030, 10, 27, 0, 30, tzinfo=BERLIN)
    runs = Schedule.parse("0 * * * *", "Europe/Berlin").occurrences_after(start)
    utc_runs = [next(runs) for _ in range(5)]
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(utc_runs))


def test_six_field_daily_job_fires_once_on_spring_forward() -> None:
    # BUG: cronsim applies Debian's DST rules only to 5-field expressions, so the same schedule
    # with a seconds field skips the spring-forward day entirely (no run on March 31).
    start = datetime(2030, 3, 30, 12, tzinfo=BERLIN)
    assert local_runs("0 30 2 * * *", start, 2) == [
        "2030-03-31T03:00:00+02:00",
        "2030-04-01T02:30:00+02:00",
    ]


def test_six_field_daily_job_fires_once_on_fall_back() -> None:
    # BUG: ... and fires twice (02:30 CEST and 02:30 CET) on the fall-back day.
    start = datetime(2030, 10, 26, 12, tzinfo=BERLIN)
    assert local_runs("0 30 2 * * *", start, 2) == [
        "2030-10-27T02:30:00+02:00",
        "2030-10-28T02:30:00+01:00",
    ]


# --- properties -------------------------------------------------------------------------------

CRON_ALPHABET = st.sampled_from(list("0123456789*/-,?LW# @abcdefghijklmnopqrstuvwxyzMONTUEDFRISA"))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.text(CRON_ALPHABET, max_size=40)))
def test_normalize_raises_nothing_but_cron_error(text: str) -> None:
    try:
        expression = normalize(text)
    except CronError:
        return
    # Whatever normalize accepts has a usable schedule (or cleanly none).
    Schedule(expression, "UTC").next_after(datetime(2030, 1, 1, tzinfo=UTC))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["*", "*/5", "1-5", "0", "L", "MON", "JAN", "15W", "2#3", "?"]),
            st.from_regex(r"\A[0-9*/,\-LW#]{1,8}\Z"),
        ),
        min_size=5,
        max_size=6,
    )
)
def test_normalize_of_field_shaped_text_raises_nothing_but_cron_error(fields: list[str]) -> None:
    try:
        expression = normalize(" ".join(fields))
    except CronError:
        return
    Schedule(expression, "UTC").next_after(datetime(2030, 1, 1, tzinfo=UTC))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_parse_timezone_raises_nothing_but_cron_error(name: str) -> None:
    try:
        parse_timezone(name)
    except CronError:
        pass
