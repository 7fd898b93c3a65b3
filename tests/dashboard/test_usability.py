"""What a new user trips over: finding jobs, confirmations, live counts, no-JavaScript pages."""

from __future__ import annotations

import re
from datetime import timedelta

from starlette.testclient import TestClient

import stoker
from stoker.core.records import LogLine
from stoker.testing.contract_support import make_recurring, make_server
from tests.dashboard.helpers import csrf_of, new_job, new_retry

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: would show "abc\u202edef.exe" as "abcexe.fed"


def test_the_top_bar_lookup_opens_a_job_by_its_id_in_any_state(
    app: stoker.App, client: TestClient
) -> None:
    for state in ("Succeeded", "Failed", "Scheduled"):
        job_id = new_job(app, state)
        for text in (job_id, f"#{job_id}", f" # {job_id} "):
            response = client.get("/search", params={"q": text})
            assert response.status_code == 303, text
            assert response.headers["location"] == f"/job/{job_id}"
    assert 'action="/search"' in client.get("/").text


def test_the_lookup_lists_text_matches_of_every_state(app: stoker.App, client: TestClient) -> None:
    failed = new_job(app, "Failed", args=["invoice-4711"])
    waiting = new_job(app, "Enqueued", args=["invoice-4711"])
    new_job(app, "Enqueued", args=["other"])
    page = client.get("/search", params={"q": "invoice-4711"})
    assert page.status_code == 200
    sections = dict(
        re.findall(r'<section class="panel" data-state="(\w+)">(.*?)</section>', page.text, re.S)
    )
    assert set(sections) == {"Failed", "Enqueued"}
    assert f'data-job-id="{failed}"' in sections["Failed"]
    assert f'data-job-id="{waiting}"' in sections["Enqueued"]
    assert "/jobs/failed?q=invoice-4711" in sections["Failed"]
    assert "2 jobs of every state match" in page.text
    nothing = client.get("/search", params={"q": "no such thing"})
    assert "0 jobs of every state match" in nothing.text


def test_a_state_list_finds_a_job_by_its_id_as_it_is_shown(
    app: stoker.App, client: TestClient
) -> None:
    job_id = new_job(app, "Failed")
    page = client.get("/jobs/failed", params={"q": f"#{job_id}"}).text
    assert f'data-job-id="{job_id}"' in page


def test_recurring_jobs_can_be_searched(app: stoker.App, client: TestClient) -> None:
    app.storage.save_recurring(make_recurring("nightly-backup", cron="0 3 * * *"))
    app.storage.save_recurring(make_recurring("hourly-report", cron="0 * * * *"))
    page = client.get("/recurring", params={"q": "BACKUP"}).text
    assert 'data-recurring-id="nightly-backup"' in page
    assert 'data-recurring-id="hourly-report"' not in page
    assert "1 of" in page
    assert "No recurring job matches" in client.get("/recurring", params={"q": "zzz"}).text


def test_deleting_asks_first_and_a_running_job_says_it_may_run_twice(
    app: stoker.App, client: TestClient
) -> None:
    failed = new_job(app, "Failed")
    page = client.get("/jobs/failed").text
    assert f'name="delete_one" value="{failed}" data-confirm="Delete job #{failed}?"' in page
    assert 'value="delete" data-needs-selection data-confirm="Delete the selected jobs?"' in page
    running = new_job(app, "Processing")
    listing = client.get("/jobs/processing").text
    assert re.search(rf'value="{running}" data-confirm="[^"]*twice at the same time', listing)
    assert app.delete(running)
    details = client.get(f"/job/{running}").text  # deleted straight out of Processing
    assert re.search(r'name="requeue_one"[^>]*data-confirm="[^"]*may still be running', details)
    finished = new_job(app, "Succeeded")
    assert "data-confirm" not in re.search(
        r'<button[^>]*name="requeue_one"[^>]*>', client.get(f"/job/{finished}").text
    ).group(0)  # type: ignore[union-attr]


def test_heading_and_pager_counts_are_marked_for_live_updates(
    app: stoker.App, client: TestClient
) -> None:
    new_job(app, "Failed")
    page = client.get("/jobs/failed").text
    assert re.search(r'<h1>.*?data-count="Failed"[^>]*>1<', page, re.S)
    assert re.search(r'class="pager".*?data-count="Failed">1<', page, re.S)
    filtered = client.get("/jobs/failed", params={"q": "boom"}).text
    assert not re.search(r'<h1>.*?data-count="Failed"', filtered.split("</h1>")[0], re.S)


def test_pages_work_without_javascript(client: TestClient, app: stoker.App) -> None:
    new_job(app, "Failed")
    overview = client.get("/").text
    assert "The realtime chart needs JavaScript" in overview
    # Selection buttons are enabled in the HTML (the script disables them while none is ticked).
    page = client.get("/jobs/failed").text
    buttons = re.findall(r"<button[^>]*data-needs-selection[^>]*>", page)
    assert buttons
    assert not any(" disabled" in button for button in buttons)
    css = client.get("/static/stoker.css").text
    assert "@media (prefers-color-scheme: dark)" in css
    assert ":root:not([data-theme])" in css


def test_bidi_controls_in_arguments_are_shown_escaped(app: stoker.App, client: TestClient) -> None:
    job_id = new_job(app, "Enqueued", args=[f"invoice{RLO}fdp.exe"], kwargs={"note": f"a{RLO}b"})
    page = client.get(f"/job/{job_id}").text
    args = re.search(r'<pre class="code" id="job-args">(.*?)</pre>', page, re.S).group(1)  # type: ignore[union-attr]
    kwargs = re.search(r'<pre class="code" id="job-kwargs">(.*?)</pre>', page, re.S).group(1)  # type: ignore[union-attr]
    assert RLO not in page
    assert "invoice\\u202efdp.exe" in args
    assert "a\\u202eb" in kwargs


def test_the_queues_list_shows_empty_queues_that_servers_listen_on(
    app: stoker.App, client: TestClient
) -> None:
    new_job(app, "Enqueued")  # on "default"
    app.storage.announce_server(make_server("server-a:1:x", queues=("critical", "default")))
    page = client.get("/jobs/enqueued").text
    cards = dict(
        re.findall(r'class="queue-card[^"]*"[^>]*><span>([^<]+)</span><strong>(\d+)<', page)
    )
    assert cards == {"critical": "0", "default": "1"}
    overview = client.get("/").text
    assert "/jobs/enqueued?queue=critical" in overview


def test_times_carry_utc_for_the_script_to_show_them_in_local_time(
    app: stoker.App, client: TestClient
) -> None:
    job_id = new_job(app, "Succeeded")
    page = client.get(f"/job/{job_id}").text
    assert re.search(r'<time datetime="[^"]+\+00:00" data-time="absolute" title="[^"]+UTC">', page)
    assert re.search(r'<time datetime="[^"]+\+00:00" title="[^"]+ UTC">', page)


def test_a_triggered_recurring_job_is_linked_in_the_message(
    app: stoker.App, client: TestClient
) -> None:
    from tests.dashboard.helpers import flash_of, post

    app.storage.save_recurring(make_recurring("nightly"))
    text = flash_of(client, post(client, "/recurring/action", {"trigger_one": "nightly"}))
    job_id = re.search(r'<a href="/job/(\w+)" class="mono new-job">#\1</a>', text).group(1)  # type: ignore[union-attr]
    assert app.get_job(job_id) is not None


def _row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([^"]+)"', page)


def test_retries_are_listed_soonest_due_first(app: stoker.App, client: TestClient) -> None:
    # Entered Scheduled in this order, due in the other order.
    late = new_retry(app, timedelta(hours=2))
    soon = new_retry(app, timedelta(minutes=5))
    middle = new_retry(app, timedelta(minutes=30))
    assert _row_ids(client.get("/retries").text) == [soon, middle, late]


def test_the_scheduled_list_sorts_by_due_time(app: stoker.App, client: TestClient) -> None:
    late = new_retry(app, timedelta(hours=2))
    soon = new_retry(app, timedelta(minutes=5))
    assert _row_ids(client.get("/jobs/scheduled").text) == [soon, late]  # newest first
    assert _row_ids(client.get("/jobs/scheduled?sort=due").text) == [soon, late]
    assert _row_ids(client.get("/jobs/scheduled?sort=due-last").text) == [late, soon]
    page = client.get("/jobs/scheduled?sort=due-last").text
    assert '<option value="due-last" selected>' in page
    assert client.get("/jobs/failed?sort=due").status_code == 400
    assert '<option value="due"' not in client.get("/jobs/failed").text
    assert "sort=due-last" in client.get("/jobs/scheduled?sort=due-last&size=10").text


def test_the_lookup_opens_a_job_under_its_own_id_and_words_text_searches_as_such(
    app: stoker.App, client: TestClient
) -> None:
    job_id = new_job(app, "Failed")
    response = client.get("/search", params={"q": f"#00{job_id}"})
    assert response.headers["location"] == f"/job/{job_id}"
    plain = client.get("/search", params={"q": "deliver"}).text
    assert "No job has the id" not in plain
    assert "match “deliver” by function name" in plain
    assert "No job has the id “424242”" in client.get("/search", params={"q": "424242"}).text


def test_bidi_controls_in_logs_exceptions_and_reasons_are_shown_escaped(
    app: stoker.App, client: TestClient
) -> None:
    failed = new_job(app, "Enqueued")
    app.storage.append_log(failed, LogLine(app.clock.now(), f"log{RLO}line"))
    app.delete(failed, reason=f"cleanup{RLO}reason")
    for path in (f"/job/{failed}", "/jobs/deleted"):
        page = client.get(path).text
        assert RLO not in page, path
        assert "cleanup\\u202ereason" in page, path
    assert "log\\u202eline" in client.get(f"/job/{failed}").text


def test_requeueing_a_deleted_job_asks_first_everywhere(
    app: stoker.App, client: TestClient
) -> None:
    deleted = new_job(app, "Deleted")
    page = client.get("/jobs/deleted").text
    assert re.search(rf'name="requeue_one" value="{deleted}" data-confirm="[^"]*twice', page)
    assert re.search(r'value="requeue" data-needs-selection data-confirm="[^"]*twice', page)
    csrf = csrf_of(client, "/jobs/deleted")
    bulk = client.post(
        "/jobs/bulk", data={"csrf_token": csrf, "state": "Deleted", "action": "requeue"}
    )
    assert "would then run twice at the same time" in bulk.text
    running = new_job(app, "Processing")
    stop_all = client.post(
        "/jobs/bulk", data={"csrf_token": csrf, "state": "Processing", "action": "delete"}
    )
    assert "Running jobs are only asked to stop" in stop_all.text
    assert app.get_job(running).state == "Processing"  # type: ignore[union-attr]


def test_job_states_api_says_which_rows_are_still_running(
    app: stoker.App, client: TestClient
) -> None:
    running = new_job(app, "Processing")
    done = new_job(app, "Succeeded")
    answer = client.get(
        "/api/job-states", params=[("ids", running), ("ids", done), ("ids", "9999")]
    )
    assert answer.json() == {running: "Processing", done: "Succeeded"}
    too_many = [("ids", str(n)) for n in range(1, 502)]
    assert client.get("/api/job-states", params=too_many).status_code == 400


def test_queues_of_dead_servers_are_not_listed(app: stoker.App, client: TestClient) -> None:
    stale = app.clock.now() - timedelta(hours=1)
    app.storage.announce_server(make_server("gone:1:x", heartbeat_at=stale, queues=("legacy",)))
    assert "/jobs/enqueued?queue=legacy" not in client.get("/").text
