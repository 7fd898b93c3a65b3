"""run_until_idle / EagerRunner on every storage: jobs run in the test's thread, as a worker runs
them, and time moves only with the injected clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

import stoker
from stoker.testing import EagerRunner, FakeClock, NotIdleError, run_until_idle
from tests.testing import eager_jobs as jobs

STORAGES = ["memory", "sqlite", "postgres", "redis"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=STORAGES)
def app(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[stoker.App]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    with stoker.App(url, clock=clock) as application:
        yield application


def state(app: stoker.App, job_id: str) -> str:
    info = app.get_job(job_id)
    assert info is not None
    return info.state


def test_jobs_and_continuations_run_in_this_thread_oldest_first(
    app: stoker.App, clock: FakeClock
) -> None:
    jobs.calls.clear()
    first = app.enqueue(jobs.record, "first")
    child = app.continue_with(first, jobs.record, "child")
    clock.advance(1)
    mail = app.with_options(queue="mail").enqueue(jobs.record, "mail")
    clock.advance(1)
    run = run_until_idle(app)
    assert run.ids == [first, mail, child]  # the child was enqueued when `first` succeeded
    assert [job.state for job in run.jobs] == ["Succeeded"] * 3
    here = threading.get_ident()
    assert jobs.calls == [("first", here), ("mail", here), ("child", here)]
    assert run_until_idle(app).ids == []
    counts = app.storage.count_by_state()
    assert counts["Succeeded"] == 3
    assert counts["Processing"] == 0
    assert app.storage.list_servers() == []  # the runner unregistered itself


def test_only_the_given_queues_are_run_in_their_priority_order(app: stoker.App) -> None:
    low = app.enqueue(jobs.record, "low")
    high = app.with_options(queue="high").enqueue(jobs.record, "high")
    other = app.with_options(queue="other").enqueue(jobs.record, "other")
    assert run_until_idle(app, queues=["high", "default"]).ids == [high, low]
    assert state(app, other) == "Enqueued"


def test_the_first_failure_is_raised_after_its_outcome_was_stored(app: stoker.App) -> None:
    broken = app.with_options(retries=0).enqueue(jobs.fail, "boom")
    after = app.enqueue(jobs.record, "after")
    with pytest.raises(ValueError, match="boom") as raised:
        run_until_idle(app)
    assert f"raised by stoker job {broken}" in "".join(raised.value.__notes__)
    info = app.get_job(broken)
    assert info is not None
    assert info.state == "Failed"
    assert info.exception is not None
    assert info.exception.message == "boom"
    assert state(app, after) == "Enqueued"  # the run stopped at the failure


def test_retries_follow_the_clock_until_the_job_fails(app: stoker.App, clock: FakeClock) -> None:
    job_id = app.enqueue(jobs.fail_with_one_retry, "missing")
    run = run_until_idle(app, raise_errors=False)
    assert [(job.id, job.state) for job in run.jobs] == [(job_id, "Scheduled")]
    assert isinstance(run.errors[0].error, KeyError)
    clock.advance(29)
    assert run_until_idle(app, raise_errors=False).ids == []
    clock.advance(1)
    run = run_until_idle(app, raise_errors=False)
    assert [(job.id, job.state) for job in run.jobs] == [(job_id, "Failed")]
    info = app.get_job(job_id)
    assert info is not None
    assert [entry.name for entry in info.history] == [
        "Enqueued", "Processing", "Scheduled", "Enqueued", "Processing", "Failed",
    ]  # fmt: skip
    assert info.exception is not None
    assert info.exception.type == "KeyError"


def test_delayed_and_recurring_jobs_run_when_the_clock_reaches_them(
    app: stoker.App, clock: FakeClock
) -> None:
    later = app.enqueue_in(timedelta(minutes=5), jobs.record, "later")
    app.recurring.add_or_update("every-10-min", "*/10 * * * *", jobs.record, "tick")
    assert run_until_idle(app).ids == []
    clock.advance(timedelta(minutes=5))
    assert run_until_idle(app).ids == [later]
    clock.advance(timedelta(minutes=5))
    first_tick = run_until_idle(app).ids
    assert len(first_tick) == 1
    assert run_until_idle(app).ids == []  # one job per occurrence
    clock.advance(timedelta(minutes=10))
    second_tick = run_until_idle(app).ids
    assert len(second_tick) == 1
    assert second_tick != first_tick


def test_async_jobs_run_to_their_end(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.double_later, 21)
    with EagerRunner(app) as runner:
        assert runner.run_until_idle().ids == [job_id]
        assert runner.run_until_idle().ids == []
    info = app.get_job(job_id)
    assert info is not None
    assert info.result == 42


def test_a_run_that_never_ends_stops_at_max_jobs(app: stoker.App) -> None:
    ids = app.enqueue_many(jobs.record, [("a",), ("b",), ("c",)])
    with pytest.raises(NotIdleError, match="ran 2 jobs and there is still work"):
        run_until_idle(app, max_jobs=2)
    assert [state(app, job_id) for job_id in ids] == ["Succeeded", "Succeeded", "Enqueued"]


def test_the_job_policy_of_the_app_applies(app: stoker.App) -> None:
    job_id = app.with_options(retries=0).enqueue(jobs.record, "unmarked")
    app.require_marked_jobs = True
    with pytest.raises(stoker.JobNotAllowedError):
        run_until_idle(app)
    assert state(app, job_id) == "Failed"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_jobs": 0}, ValueError),
        ({"max_jobs": True}, ValueError),
        ({"queues": "default"}, TypeError),
        ({"queues": []}, ValueError),
        ({"queues": ["x" * 65]}, stoker.JobDefinitionError),
    ],
)
def test_bad_options_are_refused(options: dict[str, object], error: type[Exception]) -> None:
    with stoker.App("memory://") as app, pytest.raises(error):
        EagerRunner(app, **options)  # type: ignore[arg-type]


def test_rate_limited_jobs_run_at_their_turns_as_the_clock_steps(
    app: stoker.App, clock: FakeClock
) -> None:
    jobs.calls.clear()
    limited = app.with_options(rate_key="mail", rate_limit="1/m")
    first = limited.enqueue(jobs.record, "first")
    second = limited.enqueue(jobs.record, "second")
    assert run_until_idle(app).ids == [first, second]  # the second is put off, not run
    assert (state(app, first), state(app, second)) == ("Succeeded", "Scheduled")
    clock.advance(60)
    assert run_until_idle(app).ids == [second]
    assert [name for name, _ in jobs.calls] == ["first", "second"]
