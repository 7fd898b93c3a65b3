"""Recurring jobs: registration (validated, nothing stored on error), steering, misfire policies."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import stoker
from stoker.core.errors import CronError, JobDefinitionError, JobNotFoundError
from stoker.core.records import RecurringRecord
from stoker.core.schedule import MAX_CATCH_UP, plan_occurrences
from stoker.testing.clock import FakeClock
from tests.unit import jobs_for_tests as jobs
from tests.unit.conftest import total_jobs

# FakeClock starts at 2036-03-01 12:00 UTC.


def test_add_or_update_stores_the_definition_and_returns_the_next_run(app: stoker.App) -> None:
    next_run = app.recurring.add_or_update("backup", "0 3 * * *", jobs.add, 1, tz="Europe/Istanbul")
    assert next_run == datetime(2036, 3, 2, 0, 0, tzinfo=UTC)  # 03:00 in Istanbul (UTC+3)
    record = app.recurring.get("backup")
    assert record is not None
    assert (record.cron, record.timezone, record.function) == (
        "0 3 * * *",
        "Europe/Istanbul",
        "tests.unit.jobs_for_tests:add",
    )
    assert record.next_run == next_run
    assert record.params["recurring_id"] == "backup"
    assert [r.id for r in app.recurring.list()] == ["backup"]
    assert total_jobs(app) == 0


def test_add_or_update_expands_macros_and_uses_the_decorator_queue(app: stoker.App) -> None:
    app.recurring.add_or_update("mail", "@hourly", jobs.marked_with_options, 1)
    record = app.recurring.get("mail")
    assert record is not None
    assert (record.cron, record.queue) == ("0 * * * *", "mail")


@pytest.mark.parametrize(
    ("cron", "tz", "error"),
    [
        ("0 3 * * * * *", "UTC", CronError),
        ("every day", "UTC", CronError),
        ("61 * * * *", "UTC", CronError),
        ("0 3 * * *", "Europe/Atlantis", CronError),
        ("0 3 * * *", "", CronError),
    ],
)
def test_bad_cron_or_time_zone_is_refused_at_registration_and_nothing_is_stored(
    app: stoker.App, cron: str, tz: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        app.recurring.add_or_update("bad", cron, jobs.add, 1, tz=tz)
    assert app.recurring.list() == []


def test_bad_function_arguments_or_id_are_refused_and_nothing_is_stored(app: stoker.App) -> None:
    with pytest.raises(JobDefinitionError, match="lambda"):
        app.recurring.add_or_update("lambda", "@daily", lambda: None)
    with pytest.raises(TypeError, match="jobs_for_tests:add"):
        app.recurring.add_or_update("args", "@daily", jobs.add, 1, 2, 3)
    with pytest.raises(ValueError, match="argument 'a'"):
        app.recurring.add_or_update("encoding", "@daily", jobs.add, object())
    for bad_id in ("", "  ", "x" * 101, "tab\there"):
        with pytest.raises(JobDefinitionError, match="recurring job id"):
            app.recurring.add_or_update(bad_id, "@daily", jobs.add, 1)
    assert app.recurring.list() == []


def test_update_replaces_the_definition_and_keeps_created_at(
    app: stoker.App, clock: FakeClock
) -> None:
    app.recurring.add_or_update("report", "@daily", jobs.add, 1)
    created = app.recurring.get("report")
    clock.advance(timedelta(hours=2))
    app.recurring.add_or_update("report", "*/5 * * * *", jobs.add, 2)
    record = app.recurring.get("report")
    assert record is not None
    assert created is not None
    assert record.cron == "*/5 * * * *"
    assert record.args == "[2]"
    assert record.created_at == created.created_at
    assert len(app.recurring.list()) == 1


def test_re_registering_an_unchanged_definition_keeps_a_missed_occurrence(
    app: stoker.App, clock: FakeClock
) -> None:
    # BUG: apps call add_or_update at every start. If the servers were down at 12:10 and the
    # app restarts at 12:35, add_or_update recomputes next_run from now (12:40), so the missed
    # occurrence is silently dropped although the default misfire policy is "run once".
    app.recurring.add_or_update("sync", "*/10 * * * *", jobs.add, 1)
    clock.advance(timedelta(minutes=35))
    app.recurring.add_or_update("sync", "*/10 * * * *", jobs.add, 1)
    record = app.recurring.get("sync")
    assert record is not None
    assert record.next_run == datetime(2036, 3, 1, 12, 10, tzinfo=UTC)
    assert [r.id for r in app.storage.due_recurring(clock.now(), 10)] == ["sync"]


def test_changing_the_cron_recomputes_the_next_run(app: stoker.App, clock: FakeClock) -> None:
    app.recurring.add_or_update("sync", "*/10 * * * *", jobs.add, 1)
    clock.advance(timedelta(minutes=35))
    app.recurring.add_or_update("sync", "0 * * * *", jobs.add, 1)
    record = app.recurring.get("sync")
    assert record is not None
    assert record.next_run == datetime(2036, 3, 1, 13, 0, tzinfo=UTC)


def test_pause_resume_and_update_while_paused(app: stoker.App, clock: FakeClock) -> None:
    app.recurring.add_or_update("sync", "*/10 * * * *", jobs.add, 1)
    assert app.recurring.pause("sync")
    paused = app.recurring.get("sync")
    assert paused is not None
    assert paused.paused
    assert paused.next_run is None
    assert app.storage.due_recurring(clock.now() + timedelta(days=1), 10) == []
    # Updating a paused job keeps it paused.
    assert app.recurring.add_or_update("sync", "*/15 * * * *", jobs.add, 2) is None
    still = app.recurring.get("sync")
    assert still is not None
    assert still.paused
    assert still.cron == "*/15 * * * *"
    clock.advance(timedelta(minutes=7))
    assert app.recurring.resume("sync")
    resumed = app.recurring.get("sync")
    assert resumed is not None
    assert not resumed.paused
    assert resumed.next_run == datetime(2036, 3, 1, 12, 15, tzinfo=UTC)


def test_steering_an_unknown_recurring_job(app: stoker.App) -> None:
    assert not app.recurring.pause("nope")
    assert not app.recurring.resume("nope")
    assert not app.recurring.remove("nope")
    with pytest.raises(JobNotFoundError, match="'nope'"):
        app.recurring.trigger("nope")
    assert total_jobs(app) == 0


def test_trigger_enqueues_a_job_now_outside_the_schedule(app: stoker.App) -> None:
    app.recurring.add_or_update("report", "@yearly", jobs.add, 1, b=2, tz="Europe/Berlin")
    job_id = app.recurring.trigger("report")
    info = app.get_job(job_id)
    assert info is not None
    assert (info.state, info.args, info.kwargs) == ("Enqueued", (1,), {"b": 2})
    assert info.params["recurring_id"] == "report"
    assert info.history[0].reason == "Triggered now from recurring job report"
    record = app.recurring.get("report")
    assert record is not None
    assert record.next_run == datetime(2036, 12, 31, 23, 0, tzinfo=UTC)  # schedule unchanged


def test_trigger_records_the_job_as_the_last_run(app: stoker.App, clock: FakeClock) -> None:
    # BUG (minor): trigger creates the job but leaves last_run/last_job_id as they were, so
    # `recurring list` and the dashboard do not show the run someone just asked for
    # (Hangfire's Trigger updates LastExecution and LastJobId).
    app.recurring.add_or_update("report", "@daily", jobs.add, 1)
    job_id = app.recurring.trigger("report")
    record = app.recurring.get("report")
    assert record is not None
    assert (record.last_job_id, record.last_run) == (job_id, clock.now())


def test_trigger_works_while_paused(app: stoker.App) -> None:
    app.recurring.add_or_update("report", "@daily", jobs.add, 1)
    app.recurring.pause("report")
    assert app.get_job(app.recurring.trigger("report")) is not None


def test_remove_deletes_the_definition_but_keeps_its_jobs(app: stoker.App) -> None:
    app.recurring.add_or_update("report", "@daily", jobs.add, 1)
    job_id = app.recurring.trigger("report")
    assert app.recurring.remove("report")
    assert app.recurring.get("report") is None
    assert app.get_job(job_id) is not None
    assert not app.recurring.remove("report")


def test_misfire_policy_is_stored_from_with_options(app: stoker.App) -> None:
    app.with_options(misfire="skip").recurring.add_or_update("r", "@daily", jobs.add, 1)
    record = app.recurring.get("r")
    assert record is not None
    assert record.misfire == "skip"


def test_a_due_occurrence_fires_exactly_once(app: stoker.App, clock: FakeClock) -> None:
    app.recurring.add_or_update("tick", "*/5 * * * *", jobs.add, 1)
    clock.advance(timedelta(minutes=5))
    (record,) = app.storage.due_recurring(clock.now(), 10)
    jobs_to_create, next_run = plan_occurrences(record, clock.now())
    assert record.next_run is not None
    created = app.storage.fire_recurring(
        record.id, record.next_run, next_run, jobs_to_create, clock.now()
    )
    assert created is not None
    assert len(created) == 1
    again = app.storage.fire_recurring(
        record.id, record.next_run, next_run, jobs_to_create, clock.now()
    )
    assert again is None  # a second scheduler with the same view loses
    after = app.recurring.get("tick")
    assert after is not None
    assert after.last_job_id == created[0]
    assert after.next_run == datetime(2036, 3, 1, 12, 10, tzinfo=UTC)


# --- misfire policies (pure planning) ---------------------------------------------------------

START = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)


def record_of(misfire: str, cron: str = "*/10 * * * *") -> RecurringRecord:
    return RecurringRecord(
        id="r",
        cron=cron,
        timezone="UTC",
        function="tests.unit.jobs_for_tests:add",
        args="[1]",
        kwargs="{}",
        queue="default",
        params={"retries": 1},
        next_run=START,
        created_at=START - timedelta(days=1),
        misfire=misfire,
    )


def test_on_time_occurrence_creates_one_job_under_every_policy() -> None:
    for misfire in ("once", "all", "skip"):
        created, next_run = plan_occurrences(record_of(misfire), START + timedelta(seconds=1))
        assert len(created) == 1, misfire
        assert next_run == START + timedelta(minutes=10)
        assert created[0].params == {"retries": 1, "recurring_id": "r"}
        assert created[0].state.name == "Enqueued"


def test_misfire_once_runs_one_job_for_many_missed_occurrences() -> None:
    now = START + timedelta(minutes=55)
    created, next_run = plan_occurrences(record_of("once"), now)
    assert len(created) == 1
    assert created[0].state.reason == "Recurring job r, occurrence 2036-03-01T12:50:00+00:00"
    assert next_run == START + timedelta(minutes=60)


def test_misfire_all_runs_every_missed_occurrence_oldest_first() -> None:
    created, _ = plan_occurrences(record_of("all"), START + timedelta(minutes=55))
    reasons = [job.state.reason for job in created]
    assert len(reasons) == 6  # 12:00, 12:10, ..., 12:50
    assert reasons[0] is not None
    assert reasons[0].endswith("12:00:00+00:00")
    assert reasons[-1] is not None
    assert reasons[-1].endswith("12:50:00+00:00")


def test_misfire_all_is_capped() -> None:
    created, _ = plan_occurrences(record_of("all", "* * * * *"), START + timedelta(days=1))
    assert len(created) == MAX_CATCH_UP


def test_misfire_skip_drops_stale_occurrences_but_runs_a_fresh_one() -> None:
    stale, next_run = plan_occurrences(record_of("skip"), START + timedelta(minutes=55))
    assert stale == []
    assert next_run == START + timedelta(minutes=60)
    fresh, _ = plan_occurrences(record_of("skip"), START + timedelta(minutes=50, seconds=30))
    assert len(fresh) == 1


def test_planning_follows_the_record_time_zone_across_dst() -> None:
    berlin = replace(
        record_of("once", "30 2 * * *"),
        timezone="Europe/Berlin",
        next_run=datetime(2036, 3, 30, 1, 0, tzinfo=UTC),  # 03:00 CEST, the shifted 02:30
    )
    created, next_run = plan_occurrences(berlin, datetime(2036, 3, 30, 1, 0, 5, tzinfo=UTC))
    assert len(created) == 1
    assert next_run == datetime(2036, 3, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST the next day
