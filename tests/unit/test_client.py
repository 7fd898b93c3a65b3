"""The client API on every storage: delayed jobs, bulk, continuations, options, steering, lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import stoker
from stoker.core.errors import JobDefinitionError, JobNotFoundError
from stoker.testing.clock import FakeClock
from tests.unit import jobs_for_tests as jobs
from tests.unit.conftest import fetch, total_jobs

# --- enqueue ----------------------------------------------------------------------------------


def test_enqueue_stores_an_enqueued_job_with_its_history(app: stoker.App, clock: FakeClock) -> None:
    job_id = app.enqueue(jobs.add, 1, b=2)
    info = app.get_job(job_id)
    assert info is not None
    assert (info.function, info.args, info.kwargs) == (
        "tests.unit.jobs_for_tests:add",
        (1,),
        {"b": 2},
    )
    assert info.state == "Enqueued"
    assert info.queue == "default"
    assert info.created_at == clock.now()
    assert [(h.name, h.created_at) for h in info.history] == [("Enqueued", clock.now())]
    assert info.history[0].data == {"queue": "default"}
    assert info.result is None
    assert info.exception is None
    assert info.params["retries"] == 10


def test_enqueue_uses_the_decorator_queue_and_retries(app: stoker.App) -> None:
    info = app.get_job(app.enqueue(jobs.marked_with_options, 1))
    assert info is not None
    assert info.queue == "mail"
    assert info.params["retries"] == 2
    assert info.params["retry_delays"] == [5, 7]
    assert info.params["on_exhausted"] == "delete"


def test_enqueue_rejects_a_lambda_and_stores_nothing(app: stoker.App) -> None:
    with pytest.raises(JobDefinitionError, match="lambda"):
        app.enqueue(lambda: None)
    assert total_jobs(app) == 0


def test_enqueue_rejects_arguments_that_do_not_bind_and_stores_nothing(app: stoker.App) -> None:
    with pytest.raises(TypeError, match=r"jobs_for_tests:add.*'a'"):
        app.enqueue(jobs.add, b=1)
    assert total_jobs(app) == 0


def test_get_job_of_an_unknown_id_is_none(app: stoker.App) -> None:
    assert app.get_job("987654321") is None
    assert app.get_job("not-an-id") is None


def test_get_job_rejects_an_id_that_is_not_a_string(app: stoker.App) -> None:
    with pytest.raises(TypeError, match="job_id must be a string"):
        app.get_job(42)  # type: ignore[arg-type]


# --- enqueue_in / enqueue_at ------------------------------------------------------------------


def test_enqueue_in_schedules_the_job_relative_to_the_clock(
    app: stoker.App, clock: FakeClock
) -> None:
    job_id = app.enqueue_in(timedelta(minutes=10), jobs.add, 1)
    info = app.get_job(job_id)
    assert info is not None
    assert info.state == "Scheduled"
    assert info.state_data["enqueue_at"] == (clock.now() + timedelta(minutes=10)).isoformat()
    assert app.storage.enqueue_due_scheduled(clock.now() + timedelta(minutes=9), 10) == 0
    assert app.storage.enqueue_due_scheduled(clock.now() + timedelta(minutes=10), 10) == 1
    after = app.get_job(job_id)
    assert after is not None
    assert [h.name for h in after.history] == ["Scheduled", "Enqueued"]


def test_enqueue_in_takes_seconds(app: stoker.App, clock: FakeClock) -> None:
    info = app.get_job(app.enqueue_in(90, jobs.add, 1))
    assert info is not None
    assert info.state_data["enqueue_at"] == (clock.now() + timedelta(seconds=90)).isoformat()


@pytest.mark.parametrize("delay", ["10", None, True])
def test_enqueue_in_rejects_a_delay_that_is_not_a_duration(app: stoker.App, delay: object) -> None:
    with pytest.raises(TypeError, match="delay must be a timedelta or seconds"):
        app.enqueue_in(delay, jobs.add, 1)  # type: ignore[arg-type]
    assert total_jobs(app) == 0


@pytest.mark.parametrize("delay", [float("inf"), 1e30, float("nan")])
def test_enqueue_in_rejects_an_absurd_delay_with_a_value_error(
    app: stoker.App, delay: float
) -> None:
    # BUG: inf and 1e30 raise a bare OverflowError from timedelta (not a ValueError naming the
    # argument; the CLI's `--in 1e30` then prints a traceback).
    with pytest.raises(ValueError, match="delay"):
        app.enqueue_in(delay, jobs.add, 1)
    assert total_jobs(app) == 0


def test_enqueue_at_converts_an_aware_time_to_utc(app: stoker.App, clock: FakeClock) -> None:
    when = (clock.now() + timedelta(hours=1)).astimezone(ZoneInfo("Asia/Tokyo"))
    info = app.get_job(app.enqueue_at(when, jobs.add, 1))
    assert info is not None
    assert info.state == "Scheduled"
    assert info.state_data["enqueue_at"] == when.astimezone(UTC).isoformat()


def test_enqueue_at_rejects_a_naive_datetime_and_stores_nothing(app: stoker.App) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        app.enqueue_at(datetime(2040, 1, 1, 12, 0), jobs.add, 1)
    assert total_jobs(app) == 0


def test_enqueue_at_rejects_a_date(app: stoker.App) -> None:
    with pytest.raises(TypeError, match="aware datetime"):
        app.enqueue_at(datetime(2040, 1, 1).date(), jobs.add, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(days=-400)])
def test_enqueue_at_now_or_in_the_past_enqueues_at_once(
    app: stoker.App, clock: FakeClock, offset: timedelta
) -> None:
    info = app.get_job(app.enqueue_at(clock.now() + offset, jobs.add, 1))
    assert info is not None
    assert info.state == "Enqueued"
    assert fetch(app).id == info.id


# --- enqueue_many -----------------------------------------------------------------------------


def test_enqueue_many_stores_every_job_in_order(app: stoker.App) -> None:
    ids = app.enqueue_many(jobs.add, [(1, 2), {"a": 3}, [4]])
    assert len(set(ids)) == 3
    infos = [app.get_job(job_id) for job_id in ids]
    assert [(i.args, i.kwargs) for i in infos if i] == [((1, 2), {}), ((), {"a": 3}), ((4,), {})]


def test_enqueue_many_with_one_bad_item_stores_none_and_names_the_item(app: stoker.App) -> None:
    with pytest.raises(ValueError, match=r"item 2 of enqueue_many.*argument 'a'"):
        app.enqueue_many(jobs.add, [(1,), (2,), (object(),), (4,)])
    with pytest.raises(TypeError, match="item 1 of enqueue_many"):
        app.enqueue_many(jobs.add, [(1,), (1, 2, 3)])
    assert total_jobs(app) == 0


def test_enqueue_many_names_an_item_that_is_not_a_call(app: stoker.App) -> None:
    # BUG (minor): `tuple(5)` fails outside the per-item try, so the error is a bare
    # "'int' object is not iterable" without the item's index.
    with pytest.raises(TypeError, match="item 1 of enqueue_many"):
        app.enqueue_many(jobs.add, [(1,), 5])  # type: ignore[list-item]
    assert total_jobs(app) == 0


def test_enqueue_many_of_nothing_stores_nothing(app: stoker.App) -> None:
    assert app.enqueue_many(jobs.add, []) == []
    assert total_jobs(app) == 0


# --- continuations ----------------------------------------------------------------------------


def test_continuation_of_an_unfinished_parent_waits(app: stoker.App) -> None:
    parent = app.enqueue(jobs.add, 1)
    child = app.continue_with(parent, jobs.add, 2)
    info = app.get_job(child)
    assert info is not None
    assert info.state == "Awaiting"
    assert info.parent_id == parent
    assert info.state_data["on_states"] == ["Succeeded"]
    parent_info = app.get_job(parent)
    assert parent_info is not None
    assert parent_info.continuations == (child,)


def test_continuation_of_an_unknown_parent_raises_and_stores_nothing(app: stoker.App) -> None:
    with pytest.raises(JobNotFoundError):
        app.continue_with("987654321", jobs.add, 1)
    assert total_jobs(app) == 0


def test_continuation_rejects_a_parent_id_that_is_not_a_string(app: stoker.App) -> None:
    with pytest.raises(TypeError, match="parent_id"):
        app.continue_with(42, jobs.add, 1)  # type: ignore[arg-type]
    assert total_jobs(app) == 0


def test_continuation_on_any_final_state_lists_every_final_state(app: stoker.App) -> None:
    parent = app.enqueue(jobs.add, 1)
    child = app.with_options(on_any_final_state=True).continue_with(parent, jobs.add, 2)
    info = app.get_job(child)
    assert info is not None
    assert info.state_data["on_states"] == ["Succeeded", "Failed", "Deleted"]


def test_continuations_are_released_or_deleted_when_the_parent_is_deleted(app: stoker.App) -> None:
    parent = app.enqueue(jobs.add, 1)
    on_success = app.continue_with(parent, jobs.add, 2)
    on_any = app.with_options(on_any_final_state=True).continue_with(parent, jobs.add, 3)
    assert app.delete(parent)
    success_info, any_info = app.get_job(on_success), app.get_job(on_any)
    assert success_info is not None
    assert success_info.state == "Deleted"
    assert any_info is not None
    assert any_info.state == "Enqueued"


def test_continuation_of_a_deleted_parent_is_created_deleted(app: stoker.App) -> None:
    parent = app.enqueue(jobs.add, 1)
    app.delete(parent)
    info = app.get_job(app.continue_with(parent, jobs.add, 2))
    assert info is not None
    assert info.state == "Deleted"


def test_continuation_of_a_deleted_parent_on_any_final_state_is_enqueued(app: stoker.App) -> None:
    parent = app.enqueue(jobs.add, 1)
    app.delete(parent)
    child = app.with_options(on_any_final_state=True).continue_with(parent, jobs.add, 2)
    info = app.get_job(child)
    assert info is not None
    assert info.state == "Enqueued"


# --- with_options -----------------------------------------------------------------------------


def test_with_options_never_collides_with_job_arguments_of_the_same_names(app: stoker.App) -> None:
    client = app.with_options(queue="fast", retries=1, timeout=timedelta(seconds=5))
    job_id = client.enqueue(jobs.with_options_named_like_ours, queue="q", retries=7, timeout=1.5)
    info = app.get_job(job_id)
    assert info is not None
    assert info.kwargs == {"queue": "q", "retries": 7, "timeout": 1.5}
    assert info.queue == "fast"
    assert info.params["retries"] == 1
    assert info.params["timeout_s"] == 5.0


def test_with_options_overrides_the_decorator_and_chains(app: stoker.App) -> None:
    client = app.with_options(queue="urgent").with_options(retries=0, params={"trace": "t-1"})
    info = app.get_job(client.enqueue(jobs.marked_with_options, 1))
    assert info is not None
    assert info.queue == "urgent"
    assert info.params["retries"] == 0
    assert info.params["retry_delays"] == [5, 7]  # the decorator's, not overridden
    assert info.params["trace"] == "t-1"


def test_with_options_does_not_change_the_app(app: stoker.App) -> None:
    app.with_options(queue="other")
    info = app.get_job(app.enqueue(jobs.add, 1))
    assert info is not None
    assert info.queue == "default"


@pytest.mark.parametrize(
    "options",
    [{"queue": "bad queue"}, {"retries": -2}, {"misfire": "sometimes"}, {"on_exhausted": "x"}],
)
def test_with_options_rejects_bad_options_at_once(
    app: stoker.App, options: dict[str, object]
) -> None:
    with pytest.raises(JobDefinitionError):
        app.with_options(**options)  # type: ignore[arg-type]


def test_with_options_params_that_json_cannot_hold_are_refused_before_storing(
    app: stoker.App,
) -> None:
    # BUG: params are validated with the tagged codec (which accepts a datetime) but stored
    # untagged, so the storage's json.dumps fails later with "Object of type datetime is not
    # JSON serializable" instead of a clear error at with_options().
    with pytest.raises(ValueError, match="params"):
        app.with_options(params={"when": datetime(2030, 1, 1, tzinfo=UTC)}).enqueue(jobs.add, 1)
    assert total_jobs(app) == 0


def test_with_options_retry_delays_that_json_cannot_hold_are_refused(app: stoker.App) -> None:
    # BUG: inf is accepted; PostgreSQL then refuses the params JSON ("Token Infinity is
    # invalid") and Redis stores it, so the first failure breaks the retry filter.
    with pytest.raises(JobDefinitionError, match="retry delays"):
        app.with_options(retry_delays=[float("inf")])
    assert total_jobs(app) == 0


# --- requeue and delete -----------------------------------------------------------------------


def test_requeue_moves_a_job_back_to_its_queue(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1)
    app.delete(job_id)
    assert app.requeue(job_id)
    info = app.get_job(job_id)
    assert info is not None
    assert [h.name for h in info.history] == ["Enqueued", "Deleted", "Enqueued"]
    assert info.history[-1].reason == "Requeued"
    assert info.expire_at is None  # back in a queue: no longer expires
    assert fetch(app).id == job_id


def test_requeue_with_a_stale_expected_state_changes_nothing(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1)
    assert not app.requeue(job_id, expected_state="Failed")
    assert not app.delete(job_id, expected_state="Scheduled")
    info = app.get_job(job_id)
    assert info is not None
    assert [h.name for h in info.history] == ["Enqueued"]


def test_delete_with_the_right_expected_state_applies_with_its_reason(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1)
    assert app.delete(job_id, expected_state="Enqueued", reason="Not needed")
    info = app.get_job(job_id)
    assert info is not None
    assert info.state == "Deleted"
    assert info.history[-1].reason == "Not needed"
    assert info.expire_at is not None


def test_requeue_and_delete_of_an_unknown_job_return_false(app: stoker.App) -> None:
    assert not app.requeue("987654321")
    assert not app.delete("987654321")
    assert not app.delete("no-such-job")


def test_requeue_rejects_an_unknown_expected_state_name(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1)
    with pytest.raises(ValueError, match="unknown state 'Done'"):
        app.requeue(job_id, expected_state="Done")


def test_delete_of_a_processing_job_stops_its_claim(app: stoker.App) -> None:
    job_id = app.enqueue(jobs.add, 1)
    fetched = fetch(app)
    assert app.delete(job_id)
    # The worker's late outcome is fenced out by the Processing state id.
    assert not app.state_machine.change(
        job_id,
        stoker.core.states.Succeeded(result=1),
        expected_states=("Processing",),
        expected_state_id=fetched.state_id,
    )
    info = app.get_job(job_id)
    assert info is not None
    assert info.state == "Deleted"


def test_deleting_a_deleted_job_changes_nothing(app: stoker.App) -> None:
    # BUG (minor): a second delete returns True, adds a second Deleted history entry and counts
    # the job twice in stats:deleted (e.g. "delete all matching" twice in the dashboard).
    job_id = app.enqueue(jobs.add, 1)
    assert app.delete(job_id)
    assert not app.delete(job_id)
    info = app.get_job(job_id)
    assert info is not None
    assert [h.name for h in info.history] == ["Enqueued", "Deleted"]
    assert app.storage.get_counters(["stats:deleted"]) == {"stats:deleted": 1}


def test_a_view_that_only_adds_keys_shares_the_enqueue_plans_of_its_client(
    app: stoker.App,
) -> None:
    app.enqueue(jobs.add, 1, 2)  # makes the plan of jobs.add
    keyed = app.with_options(idempotency_key="k", unique_key="u")
    assert keyed._plans is app._plans  # per-call keys make no plans again
    retried = app.with_options(retries=0)
    assert retried._plans is not app._plans  # other job options: plans of its own
    assert retried.enqueue(jobs.add, 1, 2) != keyed.enqueue(jobs.add, 1, 2)
    info = app.get_job(retried.enqueue(jobs.add, 3, 4))
    assert info is not None
    assert info.params["retries"] == 0  # the view's own plan, not the shared one
    flagged = app.with_options(params={"flag": 1})
    flagged.enqueue(jobs.add, 1, 2)
    truthy = flagged.with_options(params={"flag": True})  # equal to 1, yet another option
    assert truthy._plans is not flagged._plans
    info = app.get_job(truthy.enqueue(jobs.add, 5, 6))
    assert info is not None
    assert info.params["flag"] is True
