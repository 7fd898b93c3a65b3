"""The FastAPI example: an endpoint enqueues through AsyncApp, a real server runs the job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

import stoker
from examples.fastapi_app.app import create_app

LOCAL = ("127.0.0.1", 50000)  # the dashboard answers local clients only


@pytest.fixture(params=["sqlite", "postgres", "redis", "memory"])
def storage_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def service(storage_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(storage_url), client=LOCAL, base_url="http://127.0.0.1") as web:
        yield web


def test_an_endpoint_enqueues_the_job_and_another_waits_for_its_result(
    service: TestClient, storage_url: str
) -> None:
    created = service.post("/thumbnails", json={"image": "cat.png", "width": 128})
    assert created.status_code == 202
    job_id = created.json()["job_id"]
    assert service.get(f"/thumbnails/{job_id}").json()["state"] == "Enqueued"
    with stoker.App(storage_url) as app, app.server(queues=["images"], poll_interval=0.1):
        done = service.get(f"/thumbnails/{job_id}", params={"wait": 10}).json()
    assert done == {
        "job_id": job_id,
        "state": "Succeeded",
        "result": {"thumbnail": "cat-128.webp", "width": 128},
        "error": None,
    }


def test_a_job_that_is_not_done_in_time_is_reported_as_it_is(service: TestClient) -> None:
    job_id = service.post("/thumbnails", json={"image": "dog.png", "width": 64}).json()["job_id"]
    pending = service.get(f"/thumbnails/{job_id}", params={"wait": 0.2})  # no server runs
    assert pending.json()["state"] == "Enqueued"
    assert service.get("/thumbnails/987654321").status_code == 404
    assert service.get(f"/thumbnails/{job_id}", params={"wait": 99}).status_code == 422


def test_bad_input_is_refused_before_anything_is_stored(service: TestClient) -> None:
    assert service.post("/thumbnails", json={"image": "", "width": 128}).status_code == 422
    assert service.post("/thumbnails", json={"image": "a.png", "width": 0}).status_code == 422


def test_the_dashboard_is_mounted_and_shows_the_job(service: TestClient) -> None:
    job_id = service.post("/thumbnails", json={"image": "cat.png", "width": 32}).json()["job_id"]
    page = service.get(f"/stoker/job/{job_id}")
    assert page.status_code == 200
    assert "make_thumbnail" in page.text
