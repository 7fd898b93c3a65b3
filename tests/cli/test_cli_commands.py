"""`stoker` subcommands run in-process against every storage: output, exit codes, clean errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

import stoker
from stoker.cli.main import build_parser
from tests.cli import cli_jobs
from tests.cli.conftest import Result, assert_clean_error

Run = Callable[..., Result]

COMMANDS = [
    ["server"],
    ["enqueue"],
    ["jobs"],
    ["jobs", "list"],
    ["jobs", "show"],
    ["jobs", "wait"],
    ["jobs", "requeue"],
    ["jobs", "delete"],
    ["recurring"],
    ["recurring", "list"],
    ["recurring", "trigger"],
    ["recurring", "pause"],
    ["recurring", "resume"],
    ["recurring", "remove"],
    ["storage", "migrate"],
    ["dashboard"],
    ["demo"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(run_cli: Run, command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.code == 0
    assert result.out.startswith("usage: stoker")
    assert " ".join(command) in result.out.splitlines()[0]


def test_top_level_help_lists_the_commands(run_cli: Run) -> None:
    result = run_cli("--help")
    assert result.code == 0
    for command in ("server", "enqueue", "jobs", "recurring", "storage", "dashboard", "demo"):
        assert command in result.out


def test_server_help_lists_every_setting_of_the_issue(run_cli: Run) -> None:
    text = run_cli("server", "--help").out
    for option in (
        "--storage", "--app", "--queues", "--workers", "--processes", "--poll-interval",
        "--heartbeat-interval", "--server-timeout", "--shutdown-timeout",
    ):  # fmt: skip
        assert option in text


def test_no_command_is_a_usage_error(run_cli: Run) -> None:
    result = run_cli()
    assert result.code == 2
    assert "required" in result.err


# --- enqueue ----------------------------------------------------------------------------------


def test_enqueue_with_json_arguments_prints_the_job_id(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    result = run_cli(
        "enqueue", "tests.cli.cli_jobs:describe", "42", '"text"', "[1, 2]", "plain words",
        "--kwargs", '{"flag": true, "none": null}', "--queue", "cli", "--storage", any_storage_url,
    )  # fmt: skip
    assert result.code == 0, result.err
    job_id = result.out.strip()
    info = app.get_job(job_id)
    assert info is not None
    assert info.function == "tests.cli.cli_jobs:describe"
    assert info.args == (42, "text", [1, 2], "plain words")
    assert info.kwargs == {"flag": True, "none": None}
    assert (info.state, info.queue) == ("Enqueued", "cli")


def test_enqueue_in_schedules_the_job(run_cli: Run, app: stoker.App, any_storage_url: str) -> None:
    result = run_cli(
        "enqueue", "tests.cli.cli_jobs:add", "1", "--in", "3600", "--storage", any_storage_url
    )
    assert result.code == 0, result.err
    info = app.get_job(result.out.strip())
    assert info is not None
    assert info.state == "Scheduled"


def test_enqueue_with_an_idempotency_key_makes_the_job_once(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    command = ("enqueue", "tests.cli.cli_jobs:add", "1", "--idempotency-key", "cli-once")
    first = run_cli(*command, "--storage", any_storage_url)
    again = run_cli(*command, "--storage", any_storage_url)
    assert (first.code, again.code) == (0, 0), first.err + again.err
    assert first.out.strip() == again.out.strip()
    assert sum(app.storage.count_by_state().values()) == 1
    bad = run_cli("enqueue", "tests.cli.cli_jobs:add", "1", "--idempotency-key", "")
    assert bad.code == 2
    assert "idempotency key" in bad.err


def test_enqueue_with_limits_stores_them_and_refuses_a_malformed_rate(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    limits = ("--concurrency-key", "tenant:7", "--concurrency", "2", "--rate-limit", "10/m")
    done = run_cli("enqueue", "tests.cli.cli_jobs:add", "1", *limits, "--storage", any_storage_url)
    assert done.code == 0, done.err
    info = app.get_job(done.out.strip())
    assert info is not None
    assert (info.params["concurrency_key"], info.params["concurrency"]) == ("tenant:7", 2)
    assert info.params["rate_limit"] == "10/m"
    bad = run_cli("enqueue", "tests.cli.cli_jobs:add", "1", "--rate-limit", "100/x")
    assert bad.code == 2
    assert "malformed rate limit '100/x'" in bad.err
    assert sum(app.storage.count_by_state().values()) == 1


def test_enqueue_of_an_unknown_function_is_a_clean_error(
    run_cli: Run, any_storage_url: str
) -> None:
    result = run_cli("enqueue", "tests.cli.cli_jobs:nope", "--storage", any_storage_url)
    assert_clean_error(result, "stoker: error:", "'tests.cli.cli_jobs' has no attribute 'nope'")
    result = run_cli("enqueue", "no_such_package.tasks:job", "--storage", any_storage_url)
    assert_clean_error(result, "cannot import module 'no_such_package.tasks'")
    result = run_cli("enqueue", "missing_colon", "--storage", any_storage_url)
    assert_clean_error(result, "package.module:function")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["1", "2", "3"], "arguments do not match tests.cli.cli_jobs:add"),
        (["--kwargs", "[1]"], "--kwargs must be a JSON object"),
        (["--kwargs", "{not json"], "Expecting property name"),
        (["1", "--queue", "bad queue"], "queue name 'bad queue'"),
        (["NaN"], "not a finite number"),
    ],
)
def test_enqueue_with_bad_input_is_a_clean_error_and_stores_nothing(
    run_cli: Run, app: stoker.App, any_storage_url: str, argv: list[str], fragment: str
) -> None:
    result = run_cli("enqueue", "tests.cli.cli_jobs:add", *argv, "--storage", any_storage_url)
    assert_clean_error(result, fragment)
    assert sum(app.storage.count_by_state().values()) == 0


def test_enqueue_with_an_absurd_delay_is_a_clean_error(run_cli: Run, redis_url: str) -> None:
    # BUG: `--in 1e30` raises OverflowError from timedelta, which main() does not catch: traceback.
    result = run_cli(
        "enqueue", "tests.cli.cli_jobs:add", "1", "--in", "1e30", "--storage", redis_url
    )
    assert_clean_error(result)


# --- bad storage URLs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("stoker.db", "not a storage URL"),
        ("mysql://user:secret@db/x", "unknown storage scheme 'mysql'"),
    ],
)
def test_a_bad_storage_url_is_a_clean_error(run_cli: Run, url: str, fragment: str) -> None:
    result = run_cli("jobs", "list", "--storage", url)
    assert_clean_error(result, fragment)
    assert "secret" not in result.err


def test_an_unreachable_storage_is_a_clean_error(run_cli: Run) -> None:
    # BUG: redis.exceptions.ConnectionError is not caught by main(): a 30-line traceback for a
    # typo in the port. (PostgreSQL: psycopg_pool.PoolTimeout after 5 s, same traceback.)
    result = run_cli("jobs", "list", "--storage", "redis://127.0.0.1:1/0")
    assert_clean_error(result, "127.0.0.1:1")


def test_a_bad_cron_in_the_app_module_is_a_clean_error(
    run_cli: Run, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOKER_STORAGE", redis_url)
    result = run_cli("recurring", "list", "--app", "tests.cli.bad_cron_app:app")
    assert_clean_error(result, "invalid cron expression '0 3 * * * * *'")


def test_an_app_that_is_not_an_app_is_a_clean_error(run_cli: Run) -> None:
    result = run_cli("jobs", "list", "--app", "tests.cli.cli_jobs:add")
    assert_clean_error(result, "is not a stoker.App (got function)")
    result = run_cli("jobs", "list", "--app", "tests.cli.no_such_module:app")
    assert_clean_error(result, "cannot import 'tests.cli.no_such_module' for --app")


# --- jobs list / show / requeue / delete -----------------------------------------------------


def test_jobs_list_shows_jobs_in_a_state(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    first = app.enqueue(cli_jobs.add, 1)
    second = app.with_options(queue="other").enqueue(cli_jobs.add, 2)
    app.enqueue_in(timedelta(hours=1), cli_jobs.add, 3)
    result = run_cli("jobs", "list", "--storage", any_storage_url)
    assert result.code == 0
    lines = result.out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == second  # newest first
    assert "tests.cli.cli_jobs:add" in lines[0]
    assert "-- 2 of 2 Enqueued job(s)" in result.err
    only_other = run_cli("jobs", "list", "--queue", "other", "--storage", any_storage_url)
    assert [line.split()[0] for line in only_other.out.splitlines()] == [second]
    oldest = run_cli("jobs", "list", "--oldest-first", "--limit", "1", "--storage", any_storage_url)
    assert [line.split()[0] for line in oldest.out.splitlines()] == [first]
    scheduled = run_cli(
        "jobs", "list", "--state", "scheduled", "--json", "--storage", any_storage_url
    )
    (row,) = [json.loads(line) for line in scheduled.out.splitlines()]
    assert (row["state"], row["args"]) == ("Scheduled", [3])


def test_jobs_list_search_looks_in_every_state_unless_one_is_given(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    waiting = app.enqueue(cli_jobs.add, 4711)
    later = app.enqueue_in(timedelta(hours=1), cli_jobs.add, 4711)
    gone = app.enqueue(cli_jobs.add, 4711)
    app.delete(gone)
    app.enqueue(cli_jobs.add, 1)  # does not match
    found = run_cli("jobs", "list", "--search", "4711", "--storage", any_storage_url)
    assert found.code == 0, found.err
    rows = [line.split()[:2] for line in found.out.splitlines()]
    assert sorted(rows) == sorted([[waiting, "Enqueued"], [later, "Scheduled"], [gone, "Deleted"]])
    assert "-- 3 of 3 matching job(s)" in found.err
    paged = run_cli(
        "jobs", "list", "--search", "4711", "--limit", "1", "--offset", "1",
        "--storage", any_storage_url,
    )  # fmt: skip
    assert len(paged.out.splitlines()) == 1
    assert "-- 1 of 3 matching job(s)" in paged.err
    one_state = run_cli(
        "jobs", "list", "--search", "4711", "--state", "Deleted", "--storage", any_storage_url
    )
    assert [line.split()[0] for line in one_state.out.splitlines()] == [gone]
    by_shown_id = run_cli("jobs", "list", "--search", f"#{later}", "--storage", any_storage_url)
    assert [line.split()[0] for line in by_shown_id.out.splitlines()] == [later]


@pytest.mark.parametrize(
    "argv",
    [["--state", "Finished"], ["--limit", "0"], ["--limit", "x"], ["--offset", "-1"]],
)
def test_jobs_list_with_bad_options_is_a_usage_error(run_cli: Run, argv: list[str]) -> None:
    result = run_cli("jobs", "list", *argv, "--storage", "mysql://never-opened")
    assert result.code == 2
    assert "Traceback" not in result.err
    assert "usage: stoker jobs list" in result.err


def test_jobs_show_prints_the_history_and_result(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    job_id = app.enqueue(cli_jobs.add, 1, b=2)
    app.delete(job_id, reason="Cleaning up")
    result = run_cli("jobs", "show", job_id, "--storage", any_storage_url)
    assert result.code == 0
    assert f"Job {job_id}: tests.cli.cli_jobs:add(1, b=2)" in result.out
    assert "state: Deleted" in result.out
    assert "Deleted - Cleaning up" in result.out
    as_json = json.loads(
        run_cli("jobs", "show", job_id, "--json", "--storage", any_storage_url).out
    )
    assert [h["name"] for h in as_json["history"]] == ["Enqueued", "Deleted"]
    assert (as_json["args"], as_json["kwargs"]) == ([1], {"b": 2})


def test_jobs_show_of_an_unknown_job_is_a_clean_error(run_cli: Run, any_storage_url: str) -> None:
    result = run_cli("jobs", "show", "987654321", "--storage", any_storage_url)
    assert_clean_error(result, "no job with id '987654321'")


def test_jobs_requeue_and_delete(run_cli: Run, app: stoker.App, any_storage_url: str) -> None:
    job_id = app.enqueue(cli_jobs.add, 1)
    deleted = run_cli("jobs", "delete", job_id, "--storage", any_storage_url)
    assert (deleted.code, deleted.out.strip()) == (0, f"{job_id}: deleted")
    stale = run_cli(
        "jobs", "requeue", job_id, "--expected-state", "failed", "--storage", any_storage_url
    )
    assert stale.code == 1
    assert "not changed" in stale.out
    requeued = run_cli(
        "jobs", "requeue", job_id, "--expected-state", "Deleted", "--storage", any_storage_url
    )
    assert (requeued.code, requeued.out.strip()) == (0, f"{job_id}: requeued")
    info = app.get_job(job_id)
    assert info is not None
    assert [h.name for h in info.history] == ["Enqueued", "Deleted", "Enqueued"]


def test_jobs_delete_of_several_ids_reports_each(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    job_id = app.enqueue(cli_jobs.add, 1)
    result = run_cli("jobs", "delete", job_id, "987654321", "--storage", any_storage_url)
    assert result.code == 1  # not every job changed
    assert result.out.splitlines() == [
        f"{job_id}: deleted",
        "987654321: not changed (unknown, or not in the expected state)",
    ]


# --- recurring --------------------------------------------------------------------------------


def test_recurring_list_trigger_pause_resume_remove(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    app.recurring.add_or_update("nightly", "0 3 * * *", cli_jobs.add, 1, tz="Europe/Berlin")
    listing = run_cli("recurring", "list", "--storage", any_storage_url)
    assert listing.code == 0
    assert listing.out.startswith("nightly")
    assert "0 3 * * *" in listing.out
    assert "Europe/Berlin" in listing.out
    assert "tests.cli.cli_jobs:add" in listing.out
    triggered = run_cli("recurring", "trigger", "nightly", "--storage", any_storage_url)
    assert triggered.code == 0
    info = app.get_job(triggered.out.strip())
    assert info is not None
    assert info.params["recurring_id"] == "nightly"
    assert run_cli("recurring", "pause", "nightly", "--storage", any_storage_url).out.strip() == (
        "nightly: paused"
    )
    assert "paused" in run_cli("recurring", "list", "--storage", any_storage_url).out
    assert run_cli("recurring", "resume", "nightly", "--storage", any_storage_url).out.strip() == (
        "nightly: resumed"
    )
    record = app.recurring.get("nightly")
    assert record is not None
    assert not record.paused
    assert run_cli("recurring", "remove", "nightly", "--storage", any_storage_url).out.strip() == (
        "nightly: removed"
    )
    assert app.recurring.get("nightly") is None


@pytest.mark.parametrize("verb", ["trigger", "pause", "resume", "remove"])
def test_recurring_action_on_an_unknown_id_is_a_clean_error(
    run_cli: Run, any_storage_url: str, verb: str
) -> None:
    result = run_cli("recurring", verb, "nope", "--storage", any_storage_url)
    assert_clean_error(result, "no recurring job with id 'nope'")


# --- storage migrate and server option checks -------------------------------------------------


def test_storage_migrate_creates_a_usable_schema(run_cli: Run, any_storage_url: str) -> None:
    result = run_cli("storage", "migrate", "--storage", any_storage_url)
    assert (result.code, result.out.strip()) == (0, "storage schema is up to date")
    again = run_cli("storage", "migrate", "--storage", any_storage_url)
    assert again.code == 0
    with stoker.App(any_storage_url) as app:
        assert app.storage.count_by_state()["Enqueued"] == 0


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--workers", "0"], "workers must be an int from 1 to 1000"),
        (["--concurrency", "0"], "concurrency must be an int from 1 to 100000"),
        (["--queues", "a b"], "queue name 'a b'"),
        (["--queues", " , "], "at least one queue"),
        (["--processes", "0"], "--processes must be from 1 to 64"),
        (["--heartbeat-interval", "30", "--server-timeout", "10"], "must be longer"),
    ],
)
def test_server_with_bad_settings_is_a_clean_error_before_starting(
    run_cli: Run, argv: list[str], fragment: str
) -> None:
    result = run_cli("server", *argv, "--storage", "mysql://never-opened")
    assert_clean_error(result, fragment)


def test_server_rejects_a_poll_interval_that_is_not_a_number(run_cli: Run) -> None:
    # BUG: `--poll-interval nan` is accepted (ServerOptions only checks `< 0`).
    result = run_cli("server", "--poll-interval", "nan", "--storage", "mysql://never-opened")
    assert_clean_error(result, "poll_interval")


def test_server_command_defaults_are_the_server_options_defaults() -> None:
    from stoker.cli.serve import server_options
    from stoker.server import ServerOptions

    assert server_options(build_parser().parse_args(["server"])) == ServerOptions()


def test_requeueing_a_job_that_may_still_run_warns_that_it_could_run_twice(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    job_id = app.enqueue(cli_jobs.add, 1, 2)
    fetched = app.storage.fetch_next(["default"], "server-x:1:a", "worker-1", app.clock.now())
    assert fetched is not None
    assert fetched.id == job_id
    running = run_cli("jobs", "requeue", job_id, "--storage", any_storage_url)
    assert running.code == 0, running.err
    assert f"job {job_id} was running, and may still be" in running.err
    quiet = run_cli("jobs", "requeue", job_id, "--storage", any_storage_url)  # Enqueued now
    assert "warning" not in quiet.err
    fetched = app.storage.fetch_next(["default"], "server-x:1:a", "worker-1", app.clock.now())
    assert fetched is not None
    assert app.delete(job_id)  # deleted while it ran: its code may still be running
    again = run_cli("jobs", "requeue", job_id, "--storage", any_storage_url)
    assert f"job {job_id} was running, and may still be" in again.err


def test_jobs_wait_shows_the_settled_job_and_says_how_it_ended(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    done = app.enqueue(cli_jobs.add, 1, b=2)
    gone = app.enqueue(cli_jobs.add, 3, b=4)
    app.delete(gone)
    with app.server(workers=1, poll_interval=0.05):
        result = run_cli("jobs", "wait", done, "--timeout", "20", "--storage", any_storage_url)
    assert result.code == 0
    assert "state: Succeeded" in result.out
    deleted = run_cli("jobs", "wait", gone, "--json", "--storage", any_storage_url)
    assert deleted.code == 1
    assert json.loads(deleted.out)["state"] == "Deleted"


def test_jobs_wait_past_its_timeout_exits_with_3(
    run_cli: Run, app: stoker.App, any_storage_url: str
) -> None:
    job_id = app.enqueue(cli_jobs.add, 1, b=2)  # no server: it stays Enqueued
    result = run_cli("jobs", "wait", job_id, "--timeout", "0.2", "--storage", any_storage_url)
    assert result.code == 3
    assert f"job {job_id} is still Enqueued after 0.2 s" in result.err
