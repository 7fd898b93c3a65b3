"""The Django example as deployed: migrate, createsuperuser, the site under uvicorn, the job
server from manage.py, and real HTTP requests to the site and its mounted dashboard."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

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

SITE = REPO / "examples" / "django_site"
PASSWORD = "a-long-test-password-1"
DJANGO_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Site:
    url: str
    env: dict[str, str]


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=SITE,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The site on a fresh database: a staff user `admin`, a user `visitor`. Shared by the
    tests of this module (each acts on jobs of its own): setting it up costs seconds."""
    data = tmp_path_factory.mktemp("django_site")
    env = python_env(
        {"DJANGO_SITE_DATA": str(data), "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
        path=[SITE],
    )
    env.pop("STOKER_STORAGE", None)
    manage(env, "migrate", "--noinput")
    manage(env, "createsuperuser", "--noinput", "--username", "admin", "--email", "a@b.example")
    create_visitor = (
        "from django.contrib.auth.models import User;"
        f"User.objects.create_user('visitor', password={PASSWORD!r})"
    )
    manage(env, "shell", "-c", create_visitor)
    port = free_port()
    server = ["-m", "uvicorn", "mysite.asgi:application", "--port", str(port)]
    with child_process(server, SITE, env) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process, "/accounts/login/")
        yield Site(url, env)


@contextmanager
def logged_in(site: Site, username: str) -> Iterator[httpx.Client]:
    """A client that logged in through the site's login form (with Django's CSRF token)."""
    with httpx.Client(base_url=site.url, timeout=10) as client:
        form = client.get("/accounts/login/")
        match = DJANGO_CSRF.search(form.text)
        assert match, form.text
        fields = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": match[1]}
        done = client.post("/accounts/login/", data=fields)
        assert done.status_code == 302, done.text
        assert "sessionid" in client.cookies
        yield client


def enqueue_report(client: httpx.Client) -> str:
    """POST /reports/ as the site's own pages would: Django's CSRF token in a header."""
    response = client.post("/reports/", headers={"x-csrftoken": client.cookies["csrftoken"]})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def report(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/reports/{job_id}/")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_staff_enqueue_through_django_act_in_the_dashboard_and_the_job_server_runs_it(
    site: Site,
) -> None:
    with logged_in(site, "admin") as admin:
        assert "mysite jobs" in admin.get("/stoker/").text
        job_id = enqueue_report(admin)
        page = admin.get(f"/stoker/job/{job_id}")
        assert page.status_code == 200
        assert "count_users" in page.text

        doomed = enqueue_report(admin)
        deleted = delete_from_dashboard(admin, "/stoker", doomed)
        assert deleted.status_code == 303, deleted.text
        assert deleted.headers["location"] == "/stoker/jobs/enqueued"
        assert report(admin, doomed)["state"] == "Deleted"

        server = ["manage.py", "stoker_server", "--poll-interval", "0.1"]
        with child_process(server, SITE, site.env):
            done = wait_for(
                lambda: (found := report(admin, job_id))["state"] == "Succeeded" and found,
                30,
                f"job {job_id} to succeed",
            )
        assert done["result"] == {"users": 2, "staff": 1}


def test_a_dashboard_form_without_its_csrf_token_or_from_another_site_is_refused(
    site: Site,
) -> None:
    with logged_in(site, "admin") as admin:
        job_id = enqueue_report(admin)
        token = dashboard_csrf(admin, "/stoker/")
        form = {"expected_state": "Enqueued", "delete_one": job_id}
        assert admin.post("/stoker/jobs/action", data=form).status_code == 403
        cross_site = admin.post(
            "/stoker/jobs/action",
            data={**form, "csrf_token": token},
            headers={"origin": "http://evil.example", "sec-fetch-site": "cross-site"},
        )
        assert cross_site.status_code == 403
        assert report(admin, job_id)["state"] == "Enqueued"


def test_anonymous_visitors_are_sent_to_log_in_and_users_who_are_not_staff_refused(
    site: Site,
) -> None:
    with httpx.Client(base_url=site.url, timeout=10) as anonymous:
        page = anonymous.get("/stoker/jobs/enqueued?page=1")
        assert page.status_code == 302
        assert page.headers["location"] == (
            "/accounts/login/?next=%2Fstoker%2Fjobs%2Fenqueued%3Fpage%3D1"
        )
        assert anonymous.get("/stoker/api/stats").status_code == 403  # scripts get no redirect
        assert anonymous.post("/stoker/jobs/action", data={}).status_code == 403
    with logged_in(site, "visitor") as visitor:
        assert visitor.get("/stoker/").status_code == 403
        assert visitor.get("/stoker/api/stats").status_code == 403
        assert enqueue_report(visitor)  # an ordinary user of the site may still use it
    with logged_in(site, "admin") as admin:
        assert admin.get("/stoker/api/stats").status_code == 200
        assert admin.get("/stoker").status_code == 307  # to /stoker/
        rebound = admin.get("/stoker/", headers={"host": "rebind.attacker.example"})
        assert rebound.status_code == 403  # the dashboard answers the site's names only
