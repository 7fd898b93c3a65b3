"""Jobs waiting for a concurrency slot say so on the dashboard, with the key escaped."""

from __future__ import annotations

from markupsafe import escape
from starlette.testclient import TestClient

import stoker
from stoker.core import reasons
from stoker.core.limits import limits_of
from stoker.core.records import Gate
from tests.dashboard import dashboard_jobs as jobs

KEY = "<b>tenant</b>"


def claim_and_admit(app: stoker.App) -> str:
    """What a worker does with the next job: claim it, then ask for its slot."""
    now = app.clock.now()
    job = app.storage.fetch_next(["default"], "server-a", "worker-1", now)
    assert job is not None
    limits = limits_of(job.function, job.params)
    assert limits is not None
    gate = Gate(
        job_id=job.id,
        state_id=job.state_id,
        now=now,
        concurrency_key=limits.concurrency_key,
        concurrency=limits.concurrency,
        waiting=limits.waiting_record(job.queue, now),
    )
    app.storage.admit(gate)
    return job.id


def test_a_job_waiting_for_a_slot_shows_why_and_its_key(
    app: stoker.App, client: TestClient
) -> None:
    limited = app.with_options(concurrency_key=KEY, concurrency=1, rate_limit="10/m")
    limited.enqueue(jobs.add, 1, 2)
    limited.enqueue(jobs.add, 3, 4)
    claim_and_admit(app)
    waiting = claim_and_admit(app)
    page = client.get(f"/job/{waiting}").text
    reason = str(escape(reasons.waiting_for_slot(KEY, 1)))
    assert reason in page
    assert "Concurrency key" in page
    assert "10/m" in page  # the limits are among the job's parameters
    assert KEY not in page
    listing = client.get("/jobs/awaiting").text
    assert reason in listing
    assert KEY not in listing
