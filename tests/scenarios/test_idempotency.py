"""Idempotency keys through the App, on every storage: one job per key within its window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import stoker
from stoker.core.jobs import IDEMPOTENCY_KEY_PARAM
from stoker.testing.clock import FakeClock
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.processes import race_enqueues


def test_the_same_key_returns_the_first_job_and_creates_nothing(app: stoker.App) -> None:
    keyed = app.with_options(idempotency_key="order-7")
    first = keyed.enqueue(jobs.add, 1, 2)
    assert keyed.enqueue(jobs.add, 3, 4) == first  # other arguments: still the first job
    assert keyed.with_options(queue="other").enqueue(jobs.add, 1, 2) == first
    assert sum(app.storage.count_by_state().values()) == 1
    info = app.get_job(first)
    assert info is not None
    assert info.params[IDEMPOTENCY_KEY_PARAM] == "order-7"  # shown with the job
    assert app.with_options(idempotency_key="order-8").enqueue(jobs.add, 1, 2) != first


def test_delayed_jobs_and_continuations_take_a_key_too(app: stoker.App) -> None:
    parent = app.enqueue(jobs.add, 1, 1)
    later = app.with_options(idempotency_key="later")
    child = app.with_options(idempotency_key="child")
    delayed = later.enqueue_in(timedelta(hours=1), jobs.add, 1, 2)
    continuation = child.continue_with(parent, jobs.add, 2, 3)
    assert later.enqueue_in(timedelta(hours=2), jobs.add, 1, 2) == delayed
    assert child.continue_with(parent, jobs.add, 2, 3) == continuation
    assert sum(app.storage.count_by_state().values()) == 3


def test_after_its_window_the_key_makes_a_new_job(storage_url: str) -> None:
    clock = FakeClock()
    app = stoker.App(storage_url, clock=clock, idempotency_window=timedelta(hours=1))
    try:
        keyed = app.with_options(idempotency_key="daily-digest")
        first = keyed.enqueue(jobs.add, 1, 2)
        clock.advance(timedelta(minutes=59))
        assert keyed.enqueue(jobs.add, 1, 2) == first
        clock.advance(timedelta(minutes=2))
        second = keyed.enqueue(jobs.add, 1, 2)
        assert second != first
        assert keyed.enqueue(jobs.add, 1, 2) == second
    finally:
        app.close()


def test_an_enqueue_whose_reply_was_lost_is_retried_safely_with_its_key(
    app: stoker.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = app.storage.create_jobs
    made: list[str] = []

    def commit_then_lose_the_reply(new_jobs: Any) -> list[str]:
        ids = real(new_jobs)
        if not made:
            made.extend(ids)
            raise ConnectionError("connection lost after the commit (simulated)")
        return ids

    monkeypatch.setattr(app.storage, "create_jobs", commit_then_lose_the_reply)
    keyed = app.with_options(idempotency_key="payment-99")
    with pytest.raises(ConnectionError):
        keyed.enqueue(jobs.add, 1, 2)
    assert keyed.enqueue(jobs.add, 1, 2) == made[0]  # the retry finds the job, makes none
    assert sum(app.storage.count_by_state().values()) == 1


def test_two_processes_racing_with_one_key_make_one_job(app: stoker.App, storage_url: str) -> None:
    ids = race_enqueues(storage_url, {"idempotency_key": "welcome:42"}, 100)
    assert len(ids) == 1
    assert sum(app.storage.count_by_state().values()) == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "line\nbreak", 42])
def test_a_bad_key_is_refused_when_it_is_given(app: stoker.App, key: Any) -> None:
    with pytest.raises(stoker.JobDefinitionError, match="idempotency key"):
        app.with_options(idempotency_key=key)


def test_a_key_is_refused_where_it_would_name_many_jobs(app: stoker.App) -> None:
    keyed = app.with_options(idempotency_key="many")
    with pytest.raises(stoker.JobDefinitionError, match="enqueue_many makes many"):
        keyed.enqueue_many(jobs.add, [(1, 2), (3, 4)])
    with pytest.raises(stoker.JobDefinitionError, match="recurring job makes many"):
        keyed.recurring.add_or_update("nightly", "0 3 * * *", jobs.add, 1, 2)
    assert sum(app.storage.count_by_state().values()) == 0


def test_the_window_must_be_a_positive_timedelta(storage_url: str) -> None:
    with pytest.raises(ValueError, match="idempotency_window"):
        stoker.App(storage_url, idempotency_window=timedelta(0))
