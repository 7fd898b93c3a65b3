"""Unique jobs through the App, on every storage: one unfinished job per key."""

from __future__ import annotations

from typing import Any

import pytest

import stoker
from stoker.core.jobs import UNIQUE_KEY_PARAM
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import FAST, wait_for_state
from tests.scenarios.processes import race_enqueues


def test_an_unfinished_job_answers_for_its_key_until_it_ended(app: stoker.App) -> None:
    welcome = app.with_options(unique_key="welcome:42")
    first = welcome.enqueue(jobs.add, 1, 2)
    assert welcome.enqueue(jobs.add, 1, 2) == first
    info = app.get_job(first)
    assert info is not None
    assert info.params[UNIQUE_KEY_PARAM] == "welcome:42"
    with app.server(workers=1, **FAST):
        wait_for_state(app, first, "Succeeded")
    second = welcome.enqueue(jobs.add, 1, 2)  # the first one ended: a new job
    assert second != first
    assert welcome.enqueue(jobs.add, 1, 2) == second


def test_a_unique_function_is_keyed_on_its_arguments(app: stoker.App) -> None:
    first = app.enqueue(jobs.sync_account, 7, full=True, dry=False)
    assert app.enqueue(jobs.sync_account, 7, dry=False, full=True) == first  # any order
    assert app.enqueue(jobs.sync_account, 8, full=True, dry=False) != first
    assert app.enqueue(jobs.sync_account, 7) != first
    assert sum(app.storage.count_by_state().values()) == 3
    explicit = app.with_options(unique_key="account:7").enqueue(jobs.sync_account, 7)
    assert explicit != first  # an explicit key replaces the function's own


def test_two_processes_racing_with_one_key_make_one_job(app: stoker.App, storage_url: str) -> None:
    ids = race_enqueues(storage_url, {"unique_key": "welcome:42"}, 1000)
    assert len(ids) == 1
    assert sum(app.storage.count_by_state().values()) == 1


@pytest.mark.parametrize("key", ["", "k" * 201, "tab\there", 7])
def test_a_bad_unique_key_is_refused_when_it_is_given(app: stoker.App, key: Any) -> None:
    with pytest.raises(stoker.JobDefinitionError, match="unique key"):
        app.with_options(unique_key=key)


def test_unique_jobs_are_refused_in_bulk(app: stoker.App) -> None:
    with pytest.raises(stoker.JobDefinitionError, match="unique job"):
        app.enqueue_many(jobs.sync_account, [(1,), (2,)])
    with pytest.raises(stoker.JobDefinitionError, match="enqueue_many makes many"):
        app.with_options(unique_key="k").enqueue_many(jobs.add, [(1, 2)])
    with pytest.raises(stoker.JobDefinitionError, match="unique must be True or False"):
        stoker.job(unique="yes")(jobs.add)  # type: ignore[arg-type]
    assert sum(app.storage.count_by_state().values()) == 0
