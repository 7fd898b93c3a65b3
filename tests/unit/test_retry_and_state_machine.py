"""Retry, statistics and retention filters, driven through the state machine on a Processing job."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

import stoker
from stoker.core.filters import retry as retry_module
from stoker.core.filters import retry_delay, stats_keys
from stoker.core.states import Enqueued, Succeeded
from stoker.testing.clock import FakeClock
from tests.unit import jobs_for_tests as jobs
from tests.unit.conftest import fail_attempt, fetch


class PaymentDeclined(Exception):
    pass


def raised(exc: BaseException) -> BaseException:
    """`exc` with a real traceback, as a worker would catch it."""
    try:
        raise exc
    except BaseException as caught:
        return caught


def run_and_fail(app: stoker.App, exc: BaseException, queue: str = "default") -> str:
    fetched = fetch(app, queue)
    assert fail_attempt(app, fetched, raised(exc))
    info = app.get_job(fetched.id)
    assert info is not None
    return info.state


# --- the delay curve --------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, 11))
def test_default_delay_follows_hangfire_curve_bounds(attempt: int) -> None:
    low = (attempt - 1) ** 4 + 15
    high = low + 29 * attempt
    retry_module._JITTER.seed(attempt)  # deterministic; 300 draws of 30 values cover most
    seen = {retry_delay(attempt) for _ in range(300)}
    assert all(low <= delay <= high for delay in seen)
    assert all(delay == int(delay) for delay in seen)
    assert len(seen) > 10  # the random part really varies


def test_default_delay_hits_both_ends_of_the_random_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry_module._JITTER, "randrange", lambda n: 0)
    assert retry_delay(3) == 2**4 + 15
    monkeypatch.setattr(retry_module._JITTER, "randrange", lambda n: n - 1)
    assert retry_delay(3) == 2**4 + 15 + 29 * 3


def test_retry_delays_leave_the_global_random_state_alone() -> None:
    random.seed(42)
    expected = random.random()
    random.seed(42)
    retry_delay(5)
    assert random.random() == expected  # an app's seeded random sequence is not disturbed


def test_explicit_delays_are_used_in_order_then_the_last_repeats() -> None:
    assert [retry_delay(n, [1, 5, 30]) for n in range(1, 6)] == [1.0, 5.0, 30.0, 30.0, 30.0]


# --- retry election ---------------------------------------------------------------------------


def test_failed_attempt_is_scheduled_again_with_the_exception_in_history(
    app: stoker.App, clock: FakeClock
) -> None:
    job_id = app.with_options(retries=3, retry_delays=[60]).enqueue(jobs.add, 1)
    assert run_and_fail(app, ValueError("bad input")) == "Scheduled"
    info = app.get_job(job_id)
    assert info is not None
    retry = info.history[-1]
    assert retry.name == "Scheduled"
    assert retry.reason == "Retry attempt 1 of 3: ValueError: bad input"
    assert retry.data["retry_attempt"] == 1
    assert retry.data["retries"] == 3
    assert retry.data["exception_type"] == "ValueError"
    assert retry.data["enqueue_at"] == (clock.now() + timedelta(seconds=60)).isoformat()
    assert "bad input" in retry.data["traceback"]
    assert info.retry_count == 1
    assert info.exception is not None
    assert (info.exception.type, info.exception.message) == ("ValueError", "bad input")


def test_every_attempt_is_kept_until_retries_are_exhausted_then_failed(
    app: stoker.App, clock: FakeClock
) -> None:
    job_id = app.with_options(retries=2, retry_delays=[10, 20]).enqueue(jobs.add, 1)
    states = []
    for attempt in range(3):
        states.append(run_and_fail(app, RuntimeError(f"boom {attempt}")))
        clock.advance(30)
        app.storage.enqueue_due_scheduled(clock.now(), 10)
    assert states == ["Scheduled", "Scheduled", "Failed"]
    info = app.get_job(job_id)
    assert info is not None
    assert [h.name for h in info.history] == [
        "Enqueued", "Processing", "Scheduled",
        "Enqueued", "Processing", "Scheduled",
        "Enqueued", "Processing", "Failed",
    ]  # fmt: skip
    messages = [h.data["message"] for h in info.history if "message" in h.data]
    assert messages == ["boom 0", "boom 1", "boom 2"]
    assert info.history[-1].reason == "Retries exhausted (2 attempts)"
    assert info.exception is not None
    assert info.exception.message == "boom 2"
    assert info.expire_at is None  # Failed stays until someone acts


def test_retry_keeps_the_job_on_its_queue(app: stoker.App, clock: FakeClock) -> None:
    app.with_options(queue="mail", retries=1, retry_delays=[0]).enqueue(jobs.add, 1)
    assert run_and_fail(app, ValueError("x"), queue="mail") == "Scheduled"
    app.storage.enqueue_due_scheduled(clock.now(), 10)
    assert fetch(app, "mail") is not None


def test_zero_retries_fails_directly_with_the_workers_reason(app: stoker.App) -> None:
    job_id = app.with_options(retries=0).enqueue(jobs.add, 1)
    assert run_and_fail(app, ValueError("once only")) == "Failed"
    info = app.get_job(job_id)
    assert info is not None
    assert info.history[-1].reason == "ValueError: once only"


def test_app_default_retries_apply_to_jobs_without_their_own(
    any_storage_url: str, clock: FakeClock
) -> None:
    with stoker.App(any_storage_url, clock=clock, default_retries=0) as app:
        app.enqueue(jobs.add, 1)
        assert run_and_fail(app, ValueError("x")) == "Failed"


def test_exhausted_retries_delete_the_job_when_asked(app: stoker.App) -> None:
    job_id = app.with_options(retries=1, retry_delays=[0], on_exhausted="delete").enqueue(
        jobs.add, 1
    )
    assert run_and_fail(app, ValueError("first")) == "Scheduled"
    app.storage.enqueue_due_scheduled(app.clock.now(), 10)
    assert run_and_fail(app, ValueError("second")) == "Deleted"
    info = app.get_job(job_id)
    assert info is not None
    assert info.history[-1].reason == "Retries exhausted (1); ValueError: second"


def test_zero_retries_with_on_exhausted_delete_deletes_the_job(app: stoker.App) -> None:
    # BUG: with retries=0 the retry filter ignores on_exhausted="delete" and the job stays
    # Failed. Hangfire (Attempts = 0, OnAttemptsExceeded = Delete) deletes it.
    app.with_options(retries=0, on_exhausted="delete").enqueue(jobs.add, 1)
    assert run_and_fail(app, ValueError("x")) == "Deleted"


@pytest.mark.parametrize(
    ("only_on", "exc", "expected"),
    [
        ([ValueError], ValueError("x"), "Scheduled"),
        ([ValueError], KeyError("x"), "Failed"),
        ([LookupError], KeyError("x"), "Scheduled"),  # a subclass matches
        (["ValueError"], ValueError("x"), "Scheduled"),  # by bare class name
        ([PaymentDeclined], PaymentDeclined("card"), "Scheduled"),
        ([f"{__name__}.PaymentDeclined"], PaymentDeclined("card"), "Scheduled"),
        (["PaymentDeclined"], ValueError("x"), "Failed"),
    ],
)
def test_only_on_retries_only_matching_exceptions(
    app: stoker.App, only_on: list[object], exc: BaseException, expected: str
) -> None:
    app.with_options(retries=3, only_on=only_on).enqueue(jobs.add, 1)  # type: ignore[arg-type]
    assert run_and_fail(app, exc) == expected


@pytest.mark.parametrize(
    ("except_on", "exc", "expected"),
    [
        ([ValueError], ValueError("x"), "Failed"),
        ([ValueError], KeyError("x"), "Scheduled"),
        (["LookupError"], KeyError("x"), "Failed"),
        ([f"{__name__}.PaymentDeclined"], PaymentDeclined("card"), "Failed"),
    ],
)
def test_except_on_never_retries_matching_exceptions(
    app: stoker.App, except_on: list[object], exc: BaseException, expected: str
) -> None:
    app.with_options(retries=3, except_on=except_on).enqueue(jobs.add, 1)  # type: ignore[arg-type]
    assert run_and_fail(app, exc) == expected


def test_decorator_only_on_is_applied(app: stoker.App) -> None:
    app.enqueue(jobs.retried_only_on_value_error)
    assert run_and_fail(app, KeyError("not retried")) == "Failed"


@pytest.mark.parametrize(
    "exc",
    [
        stoker.ServerCrashedError("died"),
        stoker.ResultEncodingError("result"),
        stoker.JobNotAllowedError("not allowed"),
    ],
)
def test_errors_that_retrying_cannot_fix_are_never_retried(
    app: stoker.App, exc: BaseException
) -> None:
    app.with_options(retries=5).enqueue(jobs.add, 1)
    assert run_and_fail(app, exc) == "Failed"


def test_a_stale_worker_outcome_is_not_applied(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1)
    fetched = fetch(app)
    assert app.requeue(job_id)  # someone requeued it while it ran
    assert not fail_attempt(app, fetched, raised(ValueError("late")))
    info = app.get_job(job_id)
    assert info is not None
    assert [h.name for h in info.history] == ["Enqueued", "Processing", "Enqueued"]


def test_state_change_of_an_unknown_job_is_not_applied(app: stoker.App) -> None:
    assert not app.state_machine.change("987654321", Enqueued(queue="default"))


# --- statistics and retention -----------------------------------------------------------------


def test_statistics_count_succeeded_failed_and_deleted_per_hour_and_day(
    app: stoker.App, clock: FakeClock
) -> None:
    now = clock.now()
    app.enqueue(jobs.add, 1)
    fetched = fetch(app)
    assert app.state_machine.change(
        fetched.id,
        Succeeded(result=1),
        expected_states=("Processing",),
        expected_state_id=fetched.state_id,
    )
    app.with_options(retries=0).enqueue(jobs.add, 2)
    run_and_fail(app, ValueError("x"))
    app.delete(app.enqueue(jobs.add, 3))
    keys = [key for kind in ("succeeded", "failed", "deleted") for key in stats_keys(kind, now)]
    assert keys[:3] == [
        "stats:succeeded",
        "stats:succeeded:h:2036-03-01T12",
        "stats:succeeded:d:2036-03-01",
    ]
    assert app.storage.get_counters(keys) == dict.fromkeys(keys, 1)


def test_a_retried_failure_is_not_counted_as_failed(app: stoker.App, clock: FakeClock) -> None:
    app.with_options(retries=1).enqueue(jobs.add, 1)
    run_and_fail(app, ValueError("x"))
    total, hourly, daily = stats_keys("failed", clock.now())
    assert app.storage.get_counters([total, hourly, daily]) == {total: 0, hourly: 0, daily: 0}


def test_succeeded_jobs_expire_after_the_default_day(app: stoker.App, clock: FakeClock) -> None:
    job_id = app.enqueue(jobs.add, 1)
    fetched = fetch(app)
    app.state_machine.change(
        job_id,
        Succeeded(result=3),
        expected_states=("Processing",),
        expected_state_id=fetched.state_id,
    )
    info = app.get_job(job_id)
    assert info is not None
    assert info.result == 3
    assert info.expire_at == clock.now() + timedelta(days=1)
    assert app.storage.delete_expired(clock.now() + timedelta(hours=23), 10) == 0
    assert app.storage.delete_expired(clock.now() + timedelta(days=1, seconds=1), 10) == 1
    assert app.get_job(job_id) is None


def test_retention_is_configurable_per_state(any_storage_url: str, clock: FakeClock) -> None:
    retention = stoker.Retention(
        succeeded=timedelta(minutes=5), deleted=None, failed=timedelta(days=7)
    )
    with stoker.App(any_storage_url, clock=clock, retention=retention) as app:
        deleted = app.enqueue(jobs.add, 1)
        app.delete(deleted)
        failed_id = app.with_options(retries=0).enqueue(jobs.add, 2)
        run_and_fail(app, ValueError("x"))
        deleted_info, failed_info = app.get_job(deleted), app.get_job(failed_id)
    assert deleted_info is not None
    assert deleted_info.expire_at is None
    assert failed_info is not None
    assert failed_info.expire_at == clock.now() + timedelta(days=7)
