"""The Batches pages: list with progress, details with jobs and continuations, actions."""

from __future__ import annotations

from starlette.testclient import TestClient

import stoker
from tests.dashboard import dashboard_jobs as jobs
from tests.dashboard.helpers import csrf_of, flash_of

NAME = "<script>alert(1)</script> nightly"


def make_batch(app: stoker.App) -> stoker.Batch:
    with app.batch(NAME) as batch:
        batch.enqueue_many(jobs.add, [(n, 1) for n in range(3)])
        batch.then(jobs.add, 0, 0)
    return batch


def test_the_batches_page_lists_each_batch_with_its_progress(
    app: stoker.App, client: TestClient
) -> None:
    batch = make_batch(app)
    first = app.storage.fetch_next(["default"], "s", "w", app.clock.now())
    assert first is not None
    page = client.get("/batches")
    assert page.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt; nightly" in page.text
    assert NAME not in page.text
    assert f'href="/batch/{batch.id}"' in page.text
    assert "0 / 3" in page.text
    assert 'data-count="batches">1<' in page.text


def test_a_batch_page_shows_its_jobs_and_continuation(app: stoker.App, client: TestClient) -> None:
    batch = make_batch(app)
    page = client.get(f"/batch/{batch.id}")
    assert page.status_code == 200
    for job_id in batch.job_ids[:3]:
        assert f'data-job-id="{job_id}"' in page.text
    assert f'href="/job/{batch.job_ids[3]}"' in page.text  # the continuation
    assert "not yet: its continuations wait" in page.text
    assert client.get("/batch/no-such-batch").status_code == 404


def test_a_batch_is_deleted_from_its_page_with_a_csrf_token(
    app: stoker.App, client: TestClient
) -> None:
    batch = make_batch(app)
    path = f"/batch/{batch.id}/action"
    assert client.post(path, data={"action": "delete"}).status_code == 403
    token = csrf_of(client, f"/batch/{batch.id}")
    done = client.post(path, data={"csrf_token": token, "action": "delete"})
    assert "Deleted 3 jobs of the batch." in flash_of(client, done)
    found = app.get_batch(batch.id)
    assert found is not None
    assert found.counts["Deleted"] == 3
    bad = client.post(path, data={"csrf_token": token, "action": "explode"})
    assert bad.status_code == 400


def test_a_jobs_page_links_to_its_batch(app: stoker.App, client: TestClient) -> None:
    batch = make_batch(app)
    member = client.get(f"/job/{batch.job_ids[0]}").text
    assert f'Part of batch <a class="mono" href="/batch/{batch.id}">' in member
    waiting = client.get(f"/job/{batch.job_ids[-1]}").text
    assert f'Continues batch <a class="mono" href="/batch/{batch.id}">' in waiting
