"""Concurrency and rate limit options: parsed and checked when they are written down, stored
with each job, and read back by workers."""

from __future__ import annotations

from typing import Any

import pytest

import stoker
from stoker.core.errors import JobDefinitionError
from stoker.core.limits import JobLimits, Rate, limits_of, parse_rate
from tests.unit import jobs_for_tests as jobs


@pytest.mark.parametrize(
    ("text", "count", "period", "normal"),
    [
        ("100/m", 100, 60.0, "100/m"),
        ("5/s", 5, 1.0, "5/s"),
        ("10/30s", 10, 30.0, "10/30s"),
        (" 3 / hour ", 3, 3600.0, "3/hour"),
        ("2/D", 2, 86400.0, "2/d"),
        ("7/1.5m", 7, 90.0, "7/1.5m"),
    ],
)
def test_rates_are_n_starts_per_period(text: str, count: int, period: float, normal: str) -> None:
    assert parse_rate(text) == Rate(count=count, period=period, text=normal)


@pytest.mark.parametrize("text", ["100/x", "100", "/m", "0/m", "-1/m", "1/0s", "ten/m", "", 100])
def test_a_malformed_rate_is_refused_saying_how_to_write_one(text: Any) -> None:
    with pytest.raises(JobDefinitionError, match="rate limit"):
        parse_rate(text)


@pytest.mark.parametrize("bad", [0, -2, True, 1.5, "2", 10**6])
def test_a_concurrency_that_is_not_a_whole_number_from_1_is_refused_at_decoration(
    bad: Any,
) -> None:
    with pytest.raises(JobDefinitionError, match="concurrency"):
        stoker.job(concurrency=bad)


def test_bad_limits_are_refused_by_with_options_before_anything_is_stored(
    app: stoker.App,
) -> None:
    with pytest.raises(JobDefinitionError, match="malformed rate limit '100/x'"):
        app.with_options(rate_limit="100/x")
    with pytest.raises(JobDefinitionError, match="concurrency must be an int >= 1"):
        app.with_options(concurrency_key="tenant:7", concurrency=0)
    with pytest.raises(JobDefinitionError, match="concurrency key"):
        app.with_options(concurrency_key="", concurrency=1)
    assert sum(app.storage.count_by_state().values()) == 0


def test_a_key_without_its_limit_is_refused_at_enqueue(app: stoker.App) -> None:
    with pytest.raises(JobDefinitionError, match="concurrency_key needs a limit"):
        app.with_options(concurrency_key="tenant:7").enqueue(jobs.add, 1)
    with pytest.raises(JobDefinitionError, match="rate_key needs a limit"):
        app.with_options(rate_key="api").enqueue_many(jobs.add, [(1,), (2,)])
    assert sum(app.storage.count_by_state().values()) == 0


def test_limits_are_stored_with_each_job_and_read_back_by_workers(app: stoker.App) -> None:
    client = app.with_options(concurrency_key="tenant:7", concurrency=2, rate_limit=" 100 / m")
    job_id = client.enqueue(jobs.add, 1)
    info = app.get_job(job_id)
    assert info is not None
    assert info.params["concurrency_key"] == "tenant:7"
    assert info.params["rate_limit"] == "100/m"
    limits = limits_of(info.function, info.params)
    rate = Rate(100, 60.0, "100/m")
    assert limits == JobLimits("tenant:7", 2, info.function, rate)


def test_bulk_jobs_share_their_limits(app: stoker.App) -> None:
    ids = app.with_options(concurrency_key="k", concurrency=1).enqueue_many(
        jobs.add, [(n,) for n in range(3)]
    )
    infos = [app.get_job(job_id) for job_id in ids]
    assert {info.params["concurrency_key"] for info in infos if info is not None} == {"k"}


def test_a_functions_limits_are_keyed_on_the_function_by_default() -> None:
    limits = limits_of("app.tasks:send", {"concurrency": 3, "rate_limit": "5/s"})
    assert limits == JobLimits("app.tasks:send", 3, "app.tasks:send", Rate(5, 1.0, "5/s"))
    assert limits_of("app.tasks:send", {"retries": 3}) is None


def test_a_period_beyond_a_year_is_refused() -> None:
    with pytest.raises(JobDefinitionError, match="at most 366 days"):
        parse_rate("1/5000000d")


@pytest.mark.parametrize(
    "params",
    [
        {"concurrency": "five"},
        {"concurrency": -1},
        {"concurrency": 2, "concurrency_key": ""},
        {"rate_limit": "1/x"},
        {"rate_limit": "1/s", "rate_key": 7},
    ],
)
def test_limits_written_badly_into_params_are_refused_when_read(params: dict[str, Any]) -> None:
    with pytest.raises(JobDefinitionError):
        limits_of("app.tasks:send", params)


def test_a_job_whose_stored_limits_are_malformed_fails_instead_of_wedging_a_worker(
    app: stoker.App,
) -> None:
    job_id = app.with_options(retries=0, params={"concurrency": "five"}).enqueue(jobs.add, 1)
    with app.server(workers=1, poll_interval=0.05):
        info = app.wait(job_id, timeout=20)
    assert info.state == "Failed"
    assert info.exception is not None
    assert "concurrency must be an int >= 1" in info.exception.message
