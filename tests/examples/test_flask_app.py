"""The Flask example as deployed: the service under waitress (a real WSGI server), the
dashboard mounted through the a2wsgi bridge, real HTTP requests, a real job server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

import stoker
from tests.examples.conftest import free_port
from tests.examples.web import (
    REPO,
    child_process,
    dashboard_csrf,
    delete_from_dashboard,
    python_env,
    wait_until_serving,
)
from tests.polling import wait_for

USERS = {
    "ada": {"password": "ada-password-123", "admin": True},
    "bob": {"password": "bob-password-123", "admin": False},
}
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def service(storage_url: str) -> Iterator[str]:
    """The service's base URL, served by waitress in a child process."""
    env = python_env(
        {
            "STOKER_STORAGE": storage_url,
            "FLASK_SECRET_KEY": "test-secret-key-of-the-flask-example",
            "FLASK_APP_USERS": json.dumps(USERS),
        }
    )
    port = free_port()
    command = ["-m", "waitress", f"--listen=127.0.0.1:{port}"]
    with child_process([*command, "--call", "examples.flask_app.app:create_app"], REPO, env) as p:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, p, "/digests/0")
        yield url


@contextmanager
def logged_in(service: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service, timeout=10) as client:
        password = USERS[name]["password"]
        done = client.post("/login", data={"username": name, "password": password})
        assert done.status_code == 303, done.text
        yield client


def enqueue_digest(client: httpx.Client, address: str) -> str:
    response = client.post("/digests", json={"address": address})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def state_of(client: httpx.Client, job_id: str) -> str:
    state: str = client.get(f"/digests/{job_id}").json()["state"]
    return state


def test_an_admin_enqueues_through_flask_acts_in_the_dashboard_and_a_server_runs_the_job(
    service: str, storage_url: str
) -> None:
    with logged_in(service, "ada") as ada:
        assert ada.get("/stoker").headers["location"] == "/stoker/"
        assert "digests" in ada.get("/stoker/").text
        job_id = enqueue_digest(ada, "ada@example.com")
        assert "send_digest" in ada.get(f"/stoker/job/{job_id}").text

        doomed = enqueue_digest(ada, "nobody@example.com")
        deleted = delete_from_dashboard(ada, "/stoker", doomed)
        assert deleted.status_code == 303, deleted.text
        assert deleted.headers["location"] == "/stoker/jobs/enqueued"
        assert state_of(ada, doomed) == "Deleted"

        with stoker.App(storage_url) as app, app.server(queues=["emails"], poll_interval=0.1):
            wait_for(lambda: state_of(ada, job_id) == "Succeeded", 20, f"job {job_id}")
        assert ada.get(f"/digests/{job_id}").json()["result"] == "digest sent to ada@example.com"


@pytest.mark.parametrize("storage_url", ["sqlite"], indirect=True)
def test_the_dashboard_refuses_forms_without_its_token_and_users_who_are_not_admins(
    service: str,
) -> None:
    with httpx.Client(base_url=service, timeout=10) as anonymous:
        assert anonymous.get("/stoker/").status_code == 403
        assert anonymous.get("/stoker/api/stats").status_code == 403
        assert anonymous.post("/digests", json={"address": "a@b.example"}).status_code == 401
    with logged_in(service, "bob") as bob:
        assert bob.get("/stoker/").status_code == 403
        assert bob.get("/stoker/job/1").status_code == 403
        assert enqueue_digest(bob, "bob@example.com")  # the service itself is open to him
    with logged_in(service, "ada") as ada:
        job_id = enqueue_digest(ada, "ada@example.com")
        token = dashboard_csrf(ada, "/stoker/")
        form = {"expected_state": "Enqueued", "delete_one": job_id}
        assert ada.post("/stoker/jobs/action", data=form).status_code == 403
        bad_token = ada.post("/stoker/jobs/action", data={**form, "csrf_token": token + "x"})
        assert bad_token.status_code == 403
        assert state_of(ada, job_id) == "Enqueued"
        rebound = ada.get("/stoker/", headers={"host": "rebind.attacker.example"})
        assert rebound.status_code == 403
