"""Actions on one job, a selection and all matching; never on a job that has moved on."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

import stoker
from stoker.dashboard import create_app
from stoker.testing.contract_support import make_recurring
from tests.dashboard.helpers import LOCAL, LOCAL_URL, csrf_of, flash_of, new_job, post


def state_of(app: stoker.App, job_id: str) -> str | None:
    info = app.get_job(job_id)
    return info.state if info else None


def test_requeue_a_failed_job(app: stoker.App, client: TestClient) -> None:
    job_id = new_job(app, "Failed")
    response = post(
        client,
        "/jobs/action",
        {"expected_state": "Failed", "requeue_one": job_id, "back": f"/job/{job_id}"},
    )
    assert response.headers["location"] == f"/job/{job_id}"
    assert flash_of(client, response) == "1 job requeued."
    info = app.get_job(job_id)
    assert info is not None
    assert info.state == "Enqueued"
    assert info.history[-1].reason == "Requeued from the dashboard"


def test_enqueue_now_a_scheduled_job_and_cancel_a_processing_one(
    app: stoker.App, client: TestClient
) -> None:
    scheduled = new_job(app, "Scheduled")
    processing = new_job(app, "Processing")
    post(client, "/jobs/action", {"expected_state": "Scheduled", "requeue_one": scheduled})
    post(client, "/jobs/action", {"expected_state": "Processing", "delete_one": processing})
    assert state_of(app, scheduled) == "Enqueued"
    assert state_of(app, processing) == "Deleted"


@pytest.mark.parametrize(
    ("actual", "shown", "field"),
    [
        ("Enqueued", "Failed", "requeue_one"),  # someone requeued it already
        ("Succeeded", "Processing", "delete_one"),  # it finished meanwhile
        ("Enqueued", "Scheduled", "requeue_one"),  # the scheduler enqueued it
        ("Deleted", "Failed", "delete_one"),
    ],
)
def test_an_action_from_a_stale_page_changes_nothing(
    app: stoker.App, client: TestClient, actual: str, shown: str, field: str
) -> None:
    job_id = new_job(app, actual)
    before = app.get_job(job_id)
    response = post(client, "/jobs/action", {"expected_state": shown, field: job_id})
    text = flash_of(client, response)
    assert text.startswith("0 jobs ")
    assert "1 had moved on to another state" in text
    after = app.get_job(job_id)
    assert before is not None
    assert after is not None
    assert after.state == actual
    assert len(after.history) == len(before.history)


def test_selection_acts_on_each_job_and_counts_those_that_moved_on(
    app: stoker.App, client: TestClient
) -> None:
    failed = [new_job(app, "Failed") for _ in range(3)]
    moved = new_job(app, "Failed")
    assert app.requeue(moved)  # another user was quicker
    response = post(
        client,
        "/jobs/action",
        {"expected_state": "Failed", "action": "requeue", "ids": [*failed, moved, failed[0]]},
    )
    text = flash_of(client, response)
    assert text.startswith("3 jobs requeued; 1 had moved on")
    assert [state_of(app, job_id) for job_id in failed] == ["Enqueued"] * 3


def test_selection_with_nothing_selected_says_so(client: TestClient) -> None:
    response = post(client, "/jobs/action", {"expected_state": "Failed", "action": "requeue"})
    assert flash_of(client, response) == "No jobs were selected."


def test_actions_a_state_does_not_offer_are_rejected(app: stoker.App, client: TestClient) -> None:
    enqueued = new_job(app)
    for form in (
        {"expected_state": "Enqueued", "requeue_one": enqueued},
        {"expected_state": "Enqueued", "action": "requeue", "ids": enqueued},
        {"expected_state": "Deleted", "action": "delete", "ids": enqueued},
        {"expected_state": "Nope", "action": "delete", "ids": enqueued},
        {"expected_state": "Enqueued", "action": "explode", "ids": enqueued},
    ):
        assert post(client, "/jobs/action", form).status_code == 400, form
    assert state_of(app, enqueued) == "Enqueued"


def test_bulk_asks_for_confirmation_with_the_count_then_acts_on_all_matching(
    app: stoker.App,
) -> None:
    client = TestClient(
        create_app(app, bulk_batch_size=2), client=LOCAL, base_url=LOCAL_URL, follow_redirects=False
    )
    matching = [new_job(app, "Failed", args=["report"]) for _ in range(5)]
    others = [new_job(app, "Failed", args=["invoice"]) for _ in range(2)]
    token = csrf_of(client, "/jobs/failed")
    form = {
        "csrf_token": token,
        "state": "Failed",
        "q": "report",
        "action": "requeue",
        "back": "/jobs/failed?q=report",
    }
    confirm = client.post("/jobs/bulk", data=form)
    assert confirm.status_code == 200
    assert '<strong id="confirm-count">5</strong>' in confirm.text
    assert [state_of(app, job_id) for job_id in matching] == ["Failed"] * 5  # nothing yet
    done = client.post("/jobs/bulk", data={**form, "confirm": "yes", "at_most": "5"})
    assert done.headers["location"] == "/jobs/failed?q=report"
    assert flash_of(client, done) == "5 jobs requeued."
    assert [state_of(app, job_id) for job_id in matching] == ["Enqueued"] * 5
    assert [state_of(app, job_id) for job_id in others] == ["Failed"] * 2


def test_bulk_acts_on_at_most_the_confirmed_number(app: stoker.App, client: TestClient) -> None:
    jobs = [new_job(app, "Scheduled") for _ in range(4)]
    response = post(
        client,
        "/jobs/bulk",
        {"state": "Scheduled", "action": "delete", "confirm": "yes", "at_most": "3"},
    )
    assert flash_of(client, response) == "3 jobs deleted."
    assert sorted(state_of(app, job_id) or "" for job_id in jobs) == ["Deleted"] * 3 + ["Scheduled"]


def test_bulk_filters_by_queue(app: stoker.App, client: TestClient) -> None:
    mail = [new_job(app, queue="mail") for _ in range(3)]
    other = new_job(app, queue="other")
    page = client.get("/jobs/enqueued?queue=mail").text
    assert re.search(r'name="queue" value="mail"', page)
    response = post(
        client,
        "/jobs/bulk",
        {
            "state": "Enqueued",
            "queue": "mail",
            "action": "delete",
            "confirm": "yes",
            "at_most": "10",
        },
    )
    assert flash_of(client, response) == "3 jobs deleted."
    assert {state_of(app, job_id) for job_id in mail} == {"Deleted"}
    assert state_of(app, other) == "Enqueued"


def test_bulk_stops_at_the_time_budget_and_says_how_many_remain(app: stoker.App) -> None:
    client = TestClient(
        create_app(app, bulk_batch_size=2, bulk_time_budget=timedelta(0)),
        client=LOCAL,
        base_url=LOCAL_URL,
        follow_redirects=False,
    )
    for _ in range(5):
        new_job(app, "Failed")
    token = csrf_of(client, "/jobs/failed")
    response = client.post(
        "/jobs/bulk",
        data={
            "csrf_token": token,
            "state": "Failed",
            "action": "delete",
            "confirm": "yes",
            "at_most": "5",
        },
    )
    assert flash_of(client, response) == (
        "2 jobs deleted. Stopped after the time limit with 3 still matching: "
        "run the action again to continue."
    )


def test_bulk_rejects_bad_forms(client: TestClient) -> None:
    for form in (
        {"state": "Failed", "action": "requeue", "confirm": "yes", "at_most": "-1"},
        {"state": "Failed", "action": "requeue", "confirm": "yes", "at_most": "many"},
        {"state": "Failed", "action": "fly"},
        {"state": "Elsewhere", "action": "requeue"},
    ):
        assert post(client, "/jobs/bulk", form).status_code == 400, form


def test_recurring_trigger_pause_resume_and_remove(app: stoker.App, client: TestClient) -> None:
    app.storage.save_recurring(make_recurring("nightly", cron="0 3 * * *"))
    app.storage.save_recurring(make_recurring("hourly", cron="0 * * * *"))
    response = post(client, "/recurring/action", {"trigger_one": "nightly"})
    text = flash_of(client, response)
    match = re.fullmatch(
        r'1 recurring job triggered\. New job: <a href="/job/(\w+)" class="mono new-job">#\1</a>\.',
        text,
    )
    assert match, text
    info = app.get_job(match.group(1))
    assert info is not None
    assert info.state == "Enqueued"
    assert info.params["recurring_id"] == "nightly"

    post(client, "/recurring/action", {"action": "pause", "ids": ["nightly", "hourly"]})
    paused = app.storage.get_recurring("nightly")
    assert paused is not None
    assert paused.paused
    assert paused.next_run is None
    assert "pill-paused" in client.get("/recurring").text
    post(client, "/recurring/action", {"resume_one": "nightly"})
    resumed = app.storage.get_recurring("nightly")
    assert resumed is not None
    assert not resumed.paused
    assert resumed.next_run is not None
    response = post(client, "/recurring/action", {"action": "remove", "ids": ["hourly", "gone"]})
    assert flash_of(client, response) == "1 recurring job removed; 1 no longer existed."
    assert [r.id for r in app.storage.list_recurring()] == ["nightly"]


def test_recurring_action_on_a_removed_job_says_so(client: TestClient) -> None:
    response = post(client, "/recurring/action", {"trigger_one": "ghost"})
    assert flash_of(client, response) == "0 recurring jobs triggered; 1 no longer existed."
    assert post(client, "/recurring/action", {"action": "explode", "ids": "x"}).status_code == 400
