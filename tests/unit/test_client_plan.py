"""The per-function enqueue plan cache never goes stale and keeps every error at enqueue time."""

from __future__ import annotations

import pytest

import stoker
from stoker.core.errors import ArgumentEncodingError, JobDefinitionError, JobNotAllowedError
from tests.unit import jobs_for_tests as jobs


def _queue(app: stoker.App, job_id: str) -> str:
    info = app.get_job(job_id)
    assert info is not None
    return info.queue


def test_with_options_views_do_not_share_plans(app: stoker.App) -> None:
    assert _queue(app, app.enqueue(jobs.add, 1)) == "default"
    assert _queue(app, app.with_options(queue="a").enqueue(jobs.add, 1)) == "a"
    assert _queue(app, app.with_options(queue="b").enqueue(jobs.add, 1)) == "b"
    assert _queue(app, app.enqueue(jobs.add, 1)) == "default"


def test_argument_errors_are_raised_on_every_call_not_only_the_first(app: stoker.App) -> None:
    app.enqueue(jobs.add, 1)
    for _ in range(2):
        with pytest.raises(JobDefinitionError, match="arguments do not match"):
            app.enqueue(jobs.add, 1, 2, 3)
        with pytest.raises(ArgumentEncodingError, match="argument 'value'"):
            app.enqueue(jobs.takes_value, object())
    with pytest.raises(ValueError, match="item 1 of enqueue_many"):
        app.enqueue_many(jobs.takes_value, [(1,), (float("nan"),)])


def test_a_changed_app_setting_makes_a_new_plan(app: stoker.App) -> None:
    app.enqueue(jobs.add, 1)
    app.require_marked_jobs = True
    with pytest.raises(JobNotAllowedError):
        app.enqueue(jobs.add, 1)
    app.require_marked_jobs = False
    app.default_queue = "other"
    assert _queue(app, app.enqueue(jobs.add, 1)) == "other"


def test_redecorating_a_function_makes_a_new_plan(app: stoker.App) -> None:
    app.enqueue(jobs.add, 1)
    try:
        stoker.job(queue="mail")(jobs.add)
        assert _queue(app, app.enqueue(jobs.add, 1)) == "mail"
    finally:
        del jobs.add.__stoker_options__  # type: ignore[attr-defined]
    assert _queue(app, app.enqueue(jobs.add, 1)) == "default"
