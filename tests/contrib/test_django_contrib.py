"""stoker.contrib.django's parts: the STOKER setting, Host names, the staff rule, and the
errors of a project without Django's auth and session apps (in fresh processes: Django's
settings are configured once per process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured

from stoker.contrib.django.asgi import dashboard_hosts, staff_only
from stoker.contrib.django.conf import DASHBOARD_OPTIONS, StokerSettings, parse_stoker_settings
from stoker.dashboard import DashboardOptions


def test_a_full_stoker_setting_is_read_as_given() -> None:
    raw = {
        "storage": "sqlite:///jobs.db",
        "app": {"default_queue": "web", "allowed_modules": ["shop.tasks"]},
        "server": {"queues": ["web"], "workers": 2},
        "dashboard": {"title": "shop jobs", "read_only": True},
        "login_url": "/accounts/login/",
    }
    assert parse_stoker_settings(raw) == StokerSettings(**raw)
    assert parse_stoker_settings({}) == StokerSettings()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("sqlite:///jobs.db", "settings.STOKER must be a dict"),
        ({"storge": "x"}, "unknown key.*storge"),
        ({"server": {"worker": 2}}, r"STOKER\['server'\] has unknown option.*worker"),
        ({"dashboard": {"authorize": print}}, "unknown option.*authorize"),
        ({"app": {"clock": None}}, "unknown option.*clock"),
        ({"server": ["queues"]}, r"STOKER\['server'\] must be a dict"),
        ({"storage": ""}, r"STOKER\['storage'\] must be a non-empty string"),
        ({"login_url": 3}, r"STOKER\['login_url'\] must be a non-empty string"),
    ],
)
def test_a_malformed_stoker_setting_is_refused_by_name(raw: object, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_stoker_settings(raw)


def test_the_dashboard_options_of_the_setting_follow_the_dashboards_own() -> None:
    own = set(DashboardOptions.__optional_keys__) - {"authorize", "basic_auth"}
    assert own == DASHBOARD_OPTIONS


def test_allowed_hosts_become_the_dashboards_host_names() -> None:
    assert dashboard_hosts([".example.com", "jobs.shop.test", "[::1]"]) == [
        "example.com",
        "*.example.com",
        "jobs.shop.test",
        "[::1]",
    ]
    assert dashboard_hosts(["*"]) == ["*"]
    assert dashboard_hosts([]) is None  # the dashboard's local names


def test_only_active_staff_users_pass_the_default_rule() -> None:
    assert staff_only(SimpleNamespace(is_active=True, is_staff=True))  # type: ignore[arg-type]
    assert not staff_only(SimpleNamespace(is_active=False, is_staff=True))  # type: ignore[arg-type]
    assert not staff_only(SimpleNamespace(is_active=True, is_staff=False))  # type: ignore[arg-type]
    assert not staff_only(SimpleNamespace(is_active=True))  # type: ignore[arg-type]


def run_django(
    installed_apps: list[str], code: str, stoker: object = None, database: str = ":memory:"
) -> str:
    """Run `code` in a new process after django.setup() with these apps; its stderr+stdout."""
    script = textwrap.dedent(
        f"""
        import django
        from django.conf import settings
        settings.configure(
            INSTALLED_APPS={installed_apps!r},
            SECRET_KEY="a-secret-key-for-a-test-of-the-django-integration",
            DATABASES={{
                "default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {database!r}}}
            }},
            STOKER={stoker if stoker is not None else {"storage": "sqlite://:memory:"}!r},
        )
        django.setup()
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr


def test_without_the_auth_and_session_apps_mounting_and_checks_fail_clearly() -> None:
    output = run_django(
        ["django.contrib.contenttypes", "stoker.contrib.django"],
        """
        from django.core.management import call_command
        from stoker.contrib.django.asgi import mount_dashboard
        try:
            mount_dashboard(lambda scope, receive, send: None)
        except Exception as exc:
            print("mount:", type(exc).__name__, exc)
        call_command("check")
        """,
    )
    assert "mount: ImproperlyConfigured stoker's dashboard lets in logged-in staff" in output
    assert "add django.contrib.auth, django.contrib.sessions to INSTALLED_APPS" in output
    assert "(stoker.E001)" in output


def test_with_the_auth_and_session_apps_the_dashboard_mounts() -> None:
    apps = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]
    output = run_django(
        [*apps, "stoker.contrib.django"],
        """
        from django.core.management import call_command
        from stoker.contrib.django.asgi import mount_dashboard
        print(type(mount_dashboard(lambda scope, receive, send: None)).__name__)
        call_command("check")
        """,
    )
    assert "Router" in output
    assert "System check identified no issues" in output


def test_a_malformed_stoker_setting_stops_django_at_start_up() -> None:
    output = run_django(["stoker.contrib.django"], "", stoker={"server": {"wrokers": 2}})
    assert "ImproperlyConfigured: STOKER['server'] has unknown option(s) wrokers" in output


def test_a_job_leaves_no_django_connection_open_as_a_request_would(tmp_path: Path) -> None:
    # (Django never closes an in-memory SQLite database: that would lose it. A file it closes.)
    apps = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]
    output = run_django(
        [*apps, "stoker.contrib.django"],
        """
        from django.db import connection
        from stoker.contrib.django.conf import get_app
        from stoker.testing import run_until_idle
        from tests.contrib import django_jobs
        app = get_app()
        job_id = app.enqueue(django_jobs.touch_database)
        run_until_idle(app)  # in this thread, through the worker's code and the App's filters
        info = app.get_job(job_id)
        print("job:", info.state, info.result)
        print("open after the job:", connection.connection is not None)
        """,
        database=str(tmp_path / "site.db"),
    )
    assert "job: Succeeded True" in output
    assert "open after the job: False" in output
