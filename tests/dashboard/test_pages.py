"""Every page renders what it must, for every state, read through the Monitor."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

import stoker
from stoker.core.filters.statistics import stats_keys
from stoker.core.records import CounterIncrement, LogLine, ServerRecord, StateChange
from stoker.core.schedule import occurrence_job
from stoker.core.states import STATE_NAMES, Failed
from stoker.testing.contract_support import make_recurring
from tests.dashboard import dashboard_jobs
from tests.dashboard.helpers import SERVER_ID, new_job, new_retry

STATE_COLUMNS = {
    "Enqueued": ["Queue", "Enqueued"],
    "Scheduled": ["Due", "Scheduled"],
    "Processing": ["Server", "Worker", "Progress", "Started"],
    "Succeeded": ["Duration", "Latency", "Result"],
    "Failed": ["Exception", "Failed"],
    "Deleted": ["Reason", "Deleted"],
    "Awaiting": ["Waiting for", "Waiting since"],
}


def row_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([^"]+)"', html)


def make_in_state(app: stoker.App, state: str) -> str:
    if state == "Awaiting":
        parent = new_job(app, "Scheduled")
        return new_job(app, "Awaiting", parent_id=parent)
    return new_job(app, state)


@pytest.mark.parametrize("state", STATE_NAMES)
def test_each_state_list_shows_its_jobs_and_columns(
    app: stoker.App, client: TestClient, state: str
) -> None:
    job_id = make_in_state(app, state)
    page = client.get(f"/jobs/{state.lower()}")
    assert page.status_code == 200
    assert job_id in row_ids(page.text)
    for column in STATE_COLUMNS[state]:
        assert f">{column}</th>" in page.text
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("state", STATE_NAMES)
def test_each_state_job_page_shows_history_and_the_actions_of_its_state(
    app: stoker.App, client: TestClient, state: str
) -> None:
    job_id = make_in_state(app, state)
    page = client.get(f"/job/{job_id}")
    assert page.status_code == 200
    assert f'data-state="{state}"' in page.text
    assert "History" in page.text
    buttons = set(re.findall(r'name="(\w+)_one" value="' + re.escape(job_id), page.text))
    expected = {
        "Enqueued": {"delete"},
        "Scheduled": {"requeue", "delete"},
        "Processing": {"delete"},
        "Succeeded": {"requeue", "delete"},
        "Failed": {"requeue", "delete"},
        "Deleted": {"requeue"},
        "Awaiting": {"requeue", "delete"},
    }[state]
    assert buttons == expected


def test_state_columns_show_state_data(app: stoker.App, client: TestClient) -> None:
    succeeded = new_job(app, "Succeeded")
    failed = new_job(app, "Failed")
    processing = new_job(app, "Processing")
    app.storage.set_progress(processing, 0.4)
    text = client.get("/jobs/succeeded").text
    assert "250 ms" in text
    assert "1.5 s" in text
    assert "{&#39;total&#39;: 42}" in text
    text = client.get("/jobs/failed").text
    assert "ValueError</strong>: boom" in text
    assert failed in text
    text = client.get("/jobs/processing").text
    assert SERVER_ID in text
    assert "worker-7" in text
    assert 'value="40"' in text
    assert "40%" in text
    assert succeeded in client.get("/api/jobs/succeeded").text


def test_awaiting_job_links_its_parent_with_the_parents_state(
    app: stoker.App, client: TestClient
) -> None:
    parent = new_job(app, "Scheduled")
    child = new_job(app, "Awaiting", parent_id=parent)
    text = client.get("/jobs/awaiting").text
    assert f'href="/job/{parent}"' in text
    assert "state-scheduled" in text
    details = client.get(f"/job/{parent}").text
    assert f'href="/job/{child}"' in details
    assert "Continuations" in details
    assert f'href="/job/{parent}"' in client.get(f"/job/{child}").text


def test_enqueued_page_shows_queues_with_lengths_and_filters_by_queue(
    app: stoker.App, client: TestClient
) -> None:
    mail = [new_job(app, queue="mail") for _ in range(3)]
    other = new_job(app, queue="reports")
    page = client.get("/jobs/enqueued").text
    assert re.search(r"<span>mail</span><strong>3</strong>", page)
    assert re.search(r"<span>reports</span><strong>1</strong>", page)
    filtered = client.get("/jobs/enqueued?queue=mail").text
    assert sorted(row_ids(filtered)) == sorted(mail)
    assert other not in row_ids(filtered)


def test_paging_sorting_and_page_size(app: stoker.App, client: TestClient) -> None:
    ids = []
    for _ in range(25):
        ids.append(new_job(app, queue="p"))
        app.clock.advance(1)  # type: ignore[attr-defined]
    assert row_ids(client.get("/jobs/enqueued?size=10").text) == ids[::-1][:10]
    assert row_ids(client.get("/jobs/enqueued?size=10&page=3").text) == ids[::-1][20:]
    oldest = client.get("/jobs/enqueued?size=10&page=2&sort=oldest").text
    assert row_ids(oldest) == ids[10:20]
    assert "page 2 of 3" in oldest
    # the last pages are read from the other end; the rows must be the same
    assert row_ids(client.get("/jobs/enqueued?size=10&page=3&sort=oldest").text) == ids[20:]
    assert row_ids(client.get("/jobs/enqueued?size=20&page=2").text) == ids[::-1][20:]
    assert row_ids(client.get("/jobs/enqueued?page=999999").text) == ids[::-1][20:]
    assert len(row_ids(client.get("/jobs/enqueued?size=50").text)) == 25


def test_search_by_exact_id_function_name_and_argument_text(
    app: stoker.App, client: TestClient
) -> None:
    welcome = new_job(app, function="shop.mail:send_welcome", args=["alice@example.com"])
    charge = new_job(app, function="shop.billing:charge", args=["visa"])
    assert row_ids(client.get("/jobs/enqueued?q=WELCOME").text) == [welcome]
    assert row_ids(client.get("/jobs/enqueued?q=alice@").text) == [welcome]
    assert row_ids(client.get(f"/jobs/enqueued?q={charge}").text) == [charge]
    empty = client.get("/jobs/enqueued?q=nothing-like-this").text
    assert row_ids(empty) == []
    assert "No Enqueued job matches this filter." in empty


def test_search_says_how_many_of_the_newest_jobs_it_read_and_pages_its_matches(
    app: stoker.App, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    oldest = new_job(app, function="shop.mail:send_welcome")
    for _ in range(4):
        app.clock.advance(1)  # type: ignore[attr-defined]
        new_job(app, function="shop.mail:send_welcome")
    monkeypatch.setattr(app.storage, "search_window", 3)
    page = client.get("/jobs/enqueued?q=welcome&size=10").text
    assert len(row_ids(page)) == 3
    assert "Searched the job id and the newest 3 Enqueued jobs" in page
    assert oldest not in row_ids(page)
    assert row_ids(client.get(f"/jobs/enqueued?q={oldest}").text) == [oldest]
    last = client.get("/jobs/enqueued?q=welcome&size=10&page=7").text
    assert len(row_ids(last)) == 3  # past the last page of matches: the last page
    monkeypatch.setattr(app.storage, "search_window", 100)
    assert "Searched the job id" not in client.get("/jobs/enqueued?q=welcome").text


def test_overview_shows_counts_totals_and_history_charts(
    app: stoker.App, client: TestClient
) -> None:
    now = app.clock.now()
    job_id = new_job(app, "Scheduled")
    increments = []
    for hours_ago, succeeded, failed in ((0, 7, 2), (5, 3, 0), (30, 11, 1)):
        moment = now - timedelta(hours=hours_ago)
        for kind, count in (("succeeded", succeeded), ("failed", failed)):
            total, hourly, daily = stats_keys(kind, moment)
            increments += [
                CounterIncrement(total, count),
                CounterIncrement(hourly, count),
                CounterIncrement(daily, count),
            ]
    assert app.storage.change_state(
        StateChange(job_id, Failed("E", "m").to_record(now), counters=tuple(increments))
    )
    page = client.get("/").text
    assert 'data-total="succeeded">21<' in page
    assert 'data-total="failed">3<' in page
    assert "10 succeeded" in page
    assert "2 failed" in page
    assert "21 succeeded" in page  # 7 days: includes yesterday's bucket
    assert page.count('class="bar succeeded"') >= 3
    assert 'data-count="Failed">1<' in page
    history = client.get("/api/history").json()
    assert [p["succeeded"] for p in history["hourly"]][-1] == 7
    assert sum(p["failed"] for p in history["daily"]) == 3
    stats = client.get("/api/stats").json()
    assert stats["totals"] == {"succeeded": 21, "failed": 3, "deleted": 0}
    assert stats["states"]["Failed"] == 1


def test_retries_page_lists_jobs_waiting_for_another_attempt(
    app: stoker.App, client: TestClient
) -> None:
    plain = new_job(app, "Scheduled")
    retry = new_retry(app, timedelta(minutes=3), attempt=3)
    page = client.get("/retries").text
    assert row_ids(page) == [retry]
    assert plain not in row_ids(page)
    assert "3 of 10" in page
    assert "TimeoutError</strong>: smtp timed out" in page
    assert "in 3 min" in page
    assert client.get("/api/stats").json()["retries"] == 1


def test_retries_page_says_when_it_could_not_look_at_every_scheduled_job(
    app: stoker.App,
) -> None:
    from stoker.dashboard import create_app
    from tests.dashboard.helpers import LOCAL, LOCAL_URL

    for _ in range(3):
        new_job(app, "Scheduled")
    client = TestClient(create_app(app, retries_scan_limit=2), client=LOCAL, base_url=LOCAL_URL)
    assert "Only the first 2 of 3 scheduled jobs were searched" in client.get("/retries").text


def test_recurring_page_shows_schedule_in_words_and_last_job_state(
    app: stoker.App, client: TestClient
) -> None:
    app.storage.save_recurring(make_recurring("nightly-backup", cron="0 3 * * *"))
    app.storage.save_recurring(make_recurring("paused-one", cron="*/15 * * * *", paused=True))
    page = client.get("/recurring").text
    assert "At 03:00, every day" in page
    assert "<code>0 3 * * *</code>" in page
    assert "Europe/Istanbul" in page
    assert "Every 15 minutes" in page
    assert 'class="pill pill-paused">paused' in page
    api = client.get("/api/recurring").json()
    assert [r["id"] for r in api] == ["nightly-backup", "paused-one"]
    assert api[1]["paused"] is True
    assert api[0]["description"] == "At 03:00, every day"


def test_recurring_page_shows_the_state_of_the_last_job(
    app: stoker.App, client: TestClient
) -> None:
    now = app.clock.now()
    record = make_recurring("hourly", next_run=now)
    app.storage.save_recurring(record)
    # What the recurring scheduler does when the job is due: create the job, set last_job_id.
    fired = app.storage.fire_recurring(
        "hourly", now, now + timedelta(hours=1), [occurrence_job(record, now, "due")], now
    )
    assert fired is not None
    page = client.get("/recurring").text
    assert f'href="/job/{fired[0]}"' in page
    assert "state-enqueued" in page
    assert app.delete(fired[0])
    assert "state-deleted" in client.get("/recurring").text


def test_servers_page_marks_dead_servers_and_counts_jobs_in_flight(
    app: stoker.App, client: TestClient
) -> None:
    now = app.clock.now()
    alive = ServerRecord(SERVER_ID, "host-a", 11, 4, ("default", "mail"), now, now)
    dead = ServerRecord(
        "old:2:y",
        "host-b",
        22,
        2,
        ("default",),
        now - timedelta(hours=3),
        now - timedelta(minutes=6),
    )
    app.storage.announce_server(alive)
    app.storage.announce_server(dead)
    new_job(app, "Processing")
    page = client.get("/servers").text
    assert re.search(r'data-server-id="old:2:y".*?pill-dead', page, re.S)
    assert re.search(rf'data-server-id="{SERVER_ID}".*?pill-alive', page, re.S)
    assert '<a href="/jobs/processing">1</a>' in page
    servers = {s["id"]: s for s in client.get("/api/servers").json()}
    assert servers[SERVER_ID]["in_flight"] == 1
    assert servers["old:2:y"]["dead"] is True
    stats = client.get("/api/stats").json()
    assert (stats["servers"], stats["servers_dead"]) == (1, 1)


def test_job_page_shows_retries_exceptions_progress_logs_and_params(
    app: stoker.App, client: TestClient
) -> None:
    job_id = new_job(app, "Failed", args=[1, {"k": "v"}], kwargs={"name": "x"}, params={"p": 1})
    app.storage.set_progress(job_id, 0.5)
    app.storage.append_log(job_id, LogLine(app.clock.now(), "halfway there"))
    page = client.get(f"/job/{job_id}").text
    assert "<summary>Traceback</summary>" in page
    assert "Traceback: boom" in page
    assert "halfway there" in page
    assert 'value="50"' in page
    assert "&#34;name&#34;: &#34;x&#34;" in page  # kwargs pretty-printed and escaped
    assert '<th class="mono">p</th>' in page
    assert page.count('class="timeline-entry') == 3
    api = client.get(f"/api/job/{job_id}").json()
    assert [h["name"] for h in api["history"]] == ["Enqueued", "Processing", "Failed"]
    assert api["logs"][0]["message"] == "halfway there"
    assert api["progress"] == 0.5
    assert api["kwargs"] == {"name": "x"}


def test_unknown_job_and_unknown_state_are_404_pages(client: TestClient) -> None:
    for path in ("/job/999999999", "/job/no%2Fsuch/job", "/job/%E2%98%83", "/jobs/bogus"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "<h1>404" in response.text
    assert client.get("/api/job/nope").json() == {"error": "There is no job with this id."}
    assert client.get("/api/jobs/bogus").status_code == 404


def test_jobs_redirects_to_enqueued_and_static_files_are_served(client: TestClient) -> None:
    assert client.get("/jobs").headers["location"] == "/jobs/enqueued"
    for name in ("stoker.css", "stoker.js", "theme.js", "favicon.svg"):
        assert client.get(f"/static/{name}").status_code == 200


def test_job_page_shows_the_idempotency_and_unique_keys_a_job_was_made_with(
    app: stoker.App, client: TestClient
) -> None:
    keyed = app.with_options(idempotency_key="order-<7>", unique_key="cart:9")
    job_id = keyed.enqueue(dashboard_jobs.add, 1, 2)
    page = client.get(f"/job/{job_id}").text
    assert '<th class="mono">idempotency_key</th>' in page
    assert "order-&lt;7&gt;" in page  # escaped like every user-provided text
    assert '<th class="mono">unique_key</th>' in page
    assert "cart:9" in page
