"""What stoker.contrib.django needs from the project: Django's auth and session apps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error

# Session engines that keep sessions in the database, which needs the sessions app's table.
DATABASE_SESSION_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)


def missing_apps() -> list[str]:
    """The apps the dashboard's login check needs and the project lacks in INSTALLED_APPS."""
    missing = []
    if not apps.is_installed("django.contrib.auth"):
        missing.append("django.contrib.auth")
    engine = getattr(settings, "SESSION_ENGINE", DATABASE_SESSION_ENGINES[0])
    if engine in DATABASE_SESSION_ENGINES and not apps.is_installed("django.contrib.sessions"):
        missing.append("django.contrib.sessions")
    return missing


def missing_apps_message(missing: Sequence[str]) -> str:
    return (
        "stoker's dashboard lets in logged-in staff users, found through Django's session "
        f"and auth apps: add {', '.join(missing)} to INSTALLED_APPS (and "
        "SessionMiddleware and AuthenticationMiddleware to MIDDLEWARE, so users can log in)."
    )


def check_auth_apps(app_configs: Sequence[Any] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """A system check (`manage.py check`, runserver, migrate) reporting missing_apps()."""
    missing = missing_apps()
    if not missing:
        return []
    return [Error(missing_apps_message(missing), id="stoker.E001")]
