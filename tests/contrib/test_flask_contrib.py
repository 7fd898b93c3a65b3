"""stoker.contrib.flask in process: the dispatch under a prefix, SCRIPT_NAME, keys, bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask, session
from flask.testing import FlaskClient

import stoker
from stoker.contrib.flask import mount_dashboard

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def flask_app(jobs: stoker.App, secret_key: str = "a-flask-secret-key") -> Flask:
    web = Flask(__name__)
    web.secret_key = secret_key

    @web.post("/as/<name>")
    def log_in(name: str) -> str:
        session["user"] = name
        return "ok"

    @web.get("/stokerx")
    def beside() -> str:
        return "flask's own page"

    mount_dashboard(web, jobs, allow=lambda: session.get("user") == "admin", prefix="/stoker")
    return web


@pytest.fixture
def jobs(sqlite_url: str) -> Iterator[stoker.App]:
    with stoker.App(sqlite_url) as app:
        yield app


def admin_client(web: Flask) -> FlaskClient:
    client = web.test_client()
    assert client.post("/as/admin").status_code == 200
    return client


def test_the_prefix_goes_to_the_dashboard_and_everything_else_to_flask(jobs: stoker.App) -> None:
    client = admin_client(flask_app(jobs))
    assert client.get("/stokerx").text == "flask's own page"
    bare = client.get("/stoker?page=2")
    assert bare.status_code == 308
    assert bare.headers["location"] == "/stoker/?page=2"
    assert client.get("/stoker/").status_code == 200


def test_the_callback_decides_in_a_request_context(jobs: stoker.App) -> None:
    client = flask_app(jobs).test_client()
    assert client.get("/stoker/").status_code == 403
    client.post("/as/someone")
    assert client.get("/stoker/api/stats").status_code == 403
    client.post("/as/admin")
    assert client.get("/stoker/api/stats").status_code == 200


def test_under_a_script_name_links_and_cookies_carry_the_whole_prefix(jobs: stoker.App) -> None:
    client = admin_client(flask_app(jobs))
    page = client.get("/stoker/", base_url="http://localhost/shop")
    assert page.status_code == 200
    assert 'href="/shop/stoker/jobs/enqueued"' in page.text
    cookie = client.get_cookie("stoker_csrf", path="/shop/stoker")
    assert cookie is not None


def test_processes_with_one_flask_secret_accept_each_others_forms(jobs: stoker.App) -> None:
    """A form rendered by one process and posted to another (same browser, so the same CSRF
    cookie) passes when both have the same Flask secret key, and only then."""
    first = admin_client(flask_app(jobs))
    token = CSRF.search(first.get("/stoker/").text)
    cookie = first.get_cookie("stoker_csrf", path="/stoker")
    assert token is not None
    assert cookie is not None
    for secret, expected in (("a-flask-secret-key", 303), ("another-secret-key", 403)):
        job_id = jobs.enqueue(print, "hello")
        other = admin_client(flask_app(jobs, secret_key=secret))
        other.set_cookie("stoker_csrf", cookie.value, path="/stoker")
        form = {"csrf_token": token[1], "expected_state": "Enqueued", "delete_one": job_id}
        assert other.post("/stoker/jobs/action", data=form).status_code == expected
        info = jobs.get_job(job_id)
        assert info is not None
        assert info.state == ("Deleted" if expected == 303 else "Enqueued")


def test_bad_arguments_are_refused_when_mounting(jobs: stoker.App) -> None:
    web = Flask(__name__)
    with pytest.raises(ValueError, match="prefix must start with '/'"):
        mount_dashboard(web, jobs, allow=lambda: True, prefix="stoker")
    with pytest.raises(ValueError, match="not end with one"):
        mount_dashboard(web, jobs, allow=lambda: True, prefix="/stoker/")
    with pytest.raises(TypeError, match="allow must be a callable"):
        mount_dashboard(web, jobs, allow=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not `authorize`"):
        mount_dashboard(web, jobs, lambda: True, authorize=lambda request: True)
