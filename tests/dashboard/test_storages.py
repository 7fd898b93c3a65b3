"""End to end on SQLite, PostgreSQL, Redis and memory://: a real embedded server runs jobs, the
dashboard shows them, and its actions steer them."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

import stoker
from stoker.dashboard import create_app
from tests.dashboard import dashboard_jobs as jobs
from tests.dashboard.helpers import LOCAL, LOCAL_URL, flash_of, post

FAST = {
    "workers": 2,
    "poll_interval": 0.1,
    "scheduler_interval": 0.1,
    "heartbeat_interval": 0.3,
    "server_timeout": 1.5,
    "cancellation_interval": 0.1,
    "shutdown_timeout": 3.0,
}
PAGES = [
    "/",
    "/jobs/enqueued",
    "/jobs/scheduled",
    "/jobs/processing",
    "/jobs/succeeded",
    "/jobs/failed",
    "/jobs/deleted",
    "/jobs/awaiting",
    "/retries",
    "/recurring",
    "/servers",
    "/api/stats",
    "/api/history",
    "/api/jobs/failed",
    "/api/servers",
    "/api/recurring",
]


@pytest.fixture(params=["sqlite", "postgres", "redis", "memory"])
def real_app(request: pytest.FixtureRequest) -> Iterator[stoker.App]:
    application = stoker.App(request.getfixturevalue(f"{request.param}_url"))
    yield application
    application.close()


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
    return value


def state_of(app: stoker.App, job_id: str) -> str | None:
    info = app.get_job(job_id)
    return info.state if info else None


def test_pages_and_actions_with_a_real_server(real_app: stoker.App) -> None:
    app = real_app
    client = TestClient(create_app(app), client=LOCAL, base_url=LOCAL_URL, follow_redirects=False)
    no_retry = app.with_options(retries=0)
    added = app.enqueue(jobs.add, 2, 3)
    flaky = no_retry.enqueue(jobs.fail_first_time, f"key-{id(app)}")
    later = app.enqueue_in(3600, jobs.send_welcome_email, "bob@example.com")
    child = app.continue_with(later, jobs.add, 1, 1)
    app.recurring.add_or_update("nightly", "0 3 * * *", jobs.add, 1, 2, tz="Europe/Berlin")
    with app.server(**FAST):
        wait_for(lambda: state_of(app, added) == "Succeeded", "the first job to succeed")
        wait_for(lambda: state_of(app, flaky) == "Failed", "the flaky job to fail")
        servers = client.get("/servers").text
        assert "pill-alive" in servers
        assert "pill-dead" not in servers
        for path in PAGES:
            assert client.get(path).status_code == 200, path
        assert "5" in client.get("/jobs/succeeded").text
        failed_page = client.get("/jobs/failed").text
        assert "first attempt of" in failed_page
        assert "&lt;on purpose&gt;" in failed_page
        assert f'href="/job/{later}"' in client.get("/jobs/awaiting").text
        assert "At 03:00, every day" in client.get("/recurring").text

        # requeue the failed job from its page: it runs again and succeeds
        response = post(client, "/jobs/action", {"expected_state": "Failed", "requeue_one": flaky})
        assert flash_of(client, response) == "1 job requeued."
        wait_for(lambda: state_of(app, flaky) == "Succeeded", "the requeued job to succeed")
        details = client.get(f"/job/{flaky}").text
        assert details.count('class="timeline-entry') == 6
        assert "second time lucky" in details

        # "enqueue now" on the delayed job; its continuation follows
        post(client, "/jobs/action", {"expected_state": "Scheduled", "requeue_one": later})
        wait_for(lambda: state_of(app, child) == "Succeeded", "the continuation to run")

        # trigger the recurring job now
        response = post(client, "/recurring/action", {"trigger_one": "nightly"})
        triggered = re.search(r'class="mono new-job">#(\w+)<', flash_of(client, response))
        assert triggered
        wait_for(lambda: state_of(app, triggered.group(1)) == "Succeeded", "the triggered job")
        # The server folds its counts and writes them every second (statistics_interval).
        wait_for(
            lambda: client.get("/api/stats").json()["totals"]["succeeded"] >= 5,
            "the server's statistics to be written",
        )
        stats = client.get("/api/stats").json()
        assert stats["totals"]["failed"] == 1
        assert sum(p["succeeded"] for p in client.get("/api/history").json()["hourly"]) >= 5


def test_progress_logs_and_cancel_of_a_running_job(real_app: stoker.App) -> None:
    app = real_app
    client = TestClient(create_app(app), client=LOCAL, base_url=LOCAL_URL, follow_redirects=False)
    jobs.RELEASE.clear()
    running = app.enqueue(jobs.report_progress_until_released)
    try:
        with app.server(**FAST):
            wait_for(
                lambda: (info := app.get_job(running)) is not None and info.logs,
                "the job to log",
            )
            page = client.get(f"/job/{running}").text
            assert 'data-state="Processing"' in page
            assert 'value="25"' in page
            assert "started &lt;work&gt;" in page
            api = client.get(f"/api/job/{running}").json()
            assert api["progress"] == 0.25
            assert api["logs"][0]["message"] == "started <work>"
            assert running in client.get("/jobs/processing").text
            post(client, "/jobs/action", {"expected_state": "Processing", "delete_one": running})
            assert state_of(app, running) == "Deleted"
    finally:
        jobs.RELEASE.set()
