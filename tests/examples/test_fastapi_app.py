"""The FastAPI example: an endpoint enqueues through AsyncApp, a real server runs the job."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

import stoker
from examples.fastapi_app.app import User, create_app
from tests.examples.conftest import free_port
from tests.examples.web import (
    REPO,
    child_process,
    delete_from_dashboard,
    python_env,
    wait_until_serving,
)

LOCAL = ("127.0.0.1", 50000)
USERS = {"ada": User(password="ada-password-1", admin=True), "bob": User(password="bob-pass-1")}


@pytest.fixture(params=["sqlite", "postgres", "redis", "memory"])
def storage_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def service(storage_url: str) -> Iterator[TestClient]:
    api = create_app(storage_url, users=USERS)
    with TestClient(api, client=LOCAL, base_url="http://127.0.0.1") as web:
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


def test_the_dashboard_is_mounted_for_admins_and_shows_the_job(service: TestClient) -> None:
    job_id = service.post("/thumbnails", json={"image": "cat.png", "width": 32}).json()["job_id"]
    assert service.get(f"/stoker/job/{job_id}").status_code == 403  # not logged in
    wrong = {"username": "ada", "password": "not-her-password"}
    assert service.post("/login", data=wrong).status_code == 401
    assert service.post("/login", data={**wrong, "username": "eve"}).status_code == 401
    bob = {"username": "bob", "password": "bob-pass-1"}
    assert service.post("/login", data=bob, follow_redirects=False).status_code == 303
    assert service.get(f"/stoker/job/{job_id}").status_code == 403  # not an admin
    landing = service.post("/login", data={"username": "ada", "password": "ada-password-1"})
    assert landing.url.path == "/stoker/"
    page = service.get(f"/stoker/job/{job_id}")
    assert page.status_code == 200
    assert "make_thumbnail" in page.text


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def shared_storage_url(request: pytest.FixtureRequest) -> str:
    """A storage another process can reach (not memory://, which lives in one process)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def served(shared_storage_url: str) -> Iterator[str]:
    """The service as deployed: `uvicorn --factory` in a child process; its base URL."""
    storage_url = shared_storage_url
    users = {name: user.model_dump() for name, user in USERS.items()}
    env = python_env(
        {
            "STOKER_STORAGE": storage_url,
            "THUMBNAILS_USERS": json.dumps(users),
            "THUMBNAILS_SECRET_KEY": "the-secret-key-of-this-test",
        }
    )
    port = free_port()
    command = ["-m", "uvicorn", "--factory", "examples.fastapi_app.app:create_app"]
    with child_process([*command, "--port", str(port)], REPO, env) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process, "/thumbnails/0")
        yield url


@pytest.mark.slow
def test_under_uvicorn_an_admin_uses_the_dashboard_and_others_are_refused(
    served: str, shared_storage_url: str
) -> None:
    storage_url = shared_storage_url
    with httpx.Client(base_url=served, timeout=10) as web:
        job_id = web.post("/thumbnails", json={"image": "a.png", "width": 64}).json()["job_id"]
        doomed = web.post("/thumbnails", json={"image": "b.png", "width": 64}).json()["job_id"]
        assert web.get("/stoker/").status_code == 403
        web.post("/login", data={"username": "bob", "password": "bob-pass-1"})
        assert web.get("/stoker/api/stats").status_code == 403
        web.post("/login", data={"username": "ada", "password": "ada-password-1"})
        assert web.get("/stoker/").status_code == 200
        form = {"expected_state": "Enqueued", "delete_one": doomed}
        assert web.post("/stoker/jobs/action", data=form).status_code == 403  # no CSRF token
        deleted = delete_from_dashboard(web, "/stoker", doomed)
        assert deleted.status_code == 303, deleted.text
        assert deleted.headers["location"] == "/stoker/jobs/enqueued"
        assert web.get(f"/thumbnails/{doomed}").json()["state"] == "Deleted"
        with stoker.App(storage_url) as app, app.server(queues=["images"], poll_interval=0.1):
            done = web.get(f"/thumbnails/{job_id}", params={"wait": 10}).json()
        assert done["state"] == "Succeeded"
