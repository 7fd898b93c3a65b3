"""Helpers of the dashboard tests: CSRF-aware posting, flash reading, jobs in any state."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from starlette.testclient import TestClient

import stoker
from stoker.core.records import StateChange
from stoker.core.states import Failed, RetryScheduled, Succeeded
from stoker.testing.contract_support import make_job

LOCAL = ("127.0.0.1", 50000)
# The Host a browser on this machine sends (TestClient's default, "testserver", is refused).
LOCAL_URL = "http://127.0.0.1"
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
SERVER_ID = "server-a:1:x"


def csrf_of(client: TestClient, path: str = "/jobs/enqueued") -> str:
    """Open a page (which sets the session cookie) and return the form token it renders."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF.search(page.text)
    assert match, "the page should render a CSRF token"
    return match.group(1)


def post(client: TestClient, path: str, data: dict[str, Any], page: str = "/") -> Any:
    """POST a form with a valid CSRF token, as the browser would after opening `page`."""
    return client.post(path, data={"csrf_token": csrf_of(client, page), **data})


def flash_of(client: TestClient, response: Any) -> str:
    """Follow the redirect after a POST and return the flash message the next page shows."""
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    match = re.search(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', page.text, re.S)
    assert match, "the page after an action should say what happened"
    return match.group(1)


def new_job(app: stoker.App, state: str = "Enqueued", **options: Any) -> str:
    """A job created directly in storage; Processing/Succeeded/Failed are reached by fetching."""
    now = app.clock.now()
    initial = state if state in ("Enqueued", "Scheduled", "Awaiting") else "Enqueued"
    # A queue of its own, so that fetching it cannot claim another test job.
    own_queue = f"q-{state.lower()}-{uuid.uuid4().hex[:6]}" if state != initial else "default"
    queue = options.pop("queue", own_queue)
    (job_id,) = app.storage.create_jobs(
        [make_job(queue, initial, created_at=now, run_at=now.replace(year=now.year + 1), **options)]
    )
    if state in ("Enqueued", "Scheduled", "Awaiting"):
        return job_id
    fetched = app.storage.fetch_next([queue], SERVER_ID, "worker-7", now)
    assert fetched is not None
    assert fetched.id == job_id
    final = {
        "Processing": None,
        "Succeeded": Succeeded(result={"total": 42}, latency_ms=1500, duration_ms=250),
        "Failed": Failed(exception_type="ValueError", message="boom", traceback="Traceback: boom"),
        "Deleted": None,
    }[state]
    if final is not None:
        assert app.storage.change_state(
            StateChange(job_id, final.to_record(now), expected_states=("Processing",))
        )
    if state == "Deleted":
        assert app.delete(job_id)
    return job_id


def new_retry(app: stoker.App, due_in: timedelta, attempt: int = 1, retries: int = 10) -> str:
    """A job that failed and waits in Scheduled for attempt `attempt`, due after `due_in`."""
    job_id = new_job(app, "Processing", params={"retry_count": attempt - 1, "retries": retries})
    now = app.clock.now()
    state = RetryScheduled(
        enqueue_at=now + due_in,
        attempt=attempt,
        retries=retries,
        exception_type="TimeoutError",
        message="smtp timed out",
        traceback="tb",
        reason=f"Retry attempt {attempt} of {retries}: TimeoutError: smtp timed out",
    )
    change = StateChange(
        job_id, state.to_record(now), run_at=now + due_in, params={"retry_count": attempt}
    )
    assert app.storage.change_state(change)
    return job_id
