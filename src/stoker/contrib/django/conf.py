"""The STOKER setting: what it may hold, and the one stoker App of the Django process."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

import stoker
from stoker.contrib.django.connections import DjangoConnections
from stoker.server import ServerSettings

# The App's keyword arguments that a settings module can hold (plain values, no objects).
APP_OPTIONS = frozenset(
    {"default_retries", "default_queue", "require_marked_jobs", "allowed_modules"}
)
# stoker.dashboard.DashboardOptions without the callables and credentials (those are given to
# mount_dashboard); spelled out so that a job server started by manage.py does not load the
# web libraries (a test keeps the two in step).
DASHBOARD_OPTIONS = frozenset(
    {
        "allowed_hosts",
        "read_only",
        "title",
        "server_timeout",
        "secret_key",
        "bulk_time_budget",
        "bulk_batch_size",
        "poll_interval",
        "retries_scan_limit",
        "debug",
    }
)
SERVER_OPTIONS = frozenset(ServerSettings.__optional_keys__)
TOP_LEVEL = frozenset({"storage", "app", "server", "dashboard", "login_url"})


@dataclass(frozen=True)
class StokerSettings:
    """settings.STOKER, checked: e.g. {"storage": "sqlite:///jobs.db", "server": {...}}."""

    storage: str | None = None
    app: Mapping[str, Any] = field(default_factory=dict)
    server: Mapping[str, Any] = field(default_factory=dict)
    dashboard: Mapping[str, Any] = field(default_factory=dict)
    # Where an anonymous visitor of the dashboard is sent to log in (e.g. "/admin/login/");
    # None: they get a 403 page like a logged-in user who is not staff.
    login_url: str | None = None


def _section(raw: Mapping[str, Any], name: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(f"STOKER[{name!r}] must be a dict, got {value!r}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ImproperlyConfigured(
            f"STOKER[{name!r}] has unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    return dict(value)


def stoker_settings() -> StokerSettings:
    """settings.STOKER (default: {}), checked."""
    return parse_stoker_settings(getattr(settings, "STOKER", {}))


def parse_stoker_settings(raw: object) -> StokerSettings:
    """A STOKER setting's value, with a clear ImproperlyConfigured for a wrong shape or key."""
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"settings.STOKER must be a dict, got {raw!r}")
    unknown = sorted(set(raw) - TOP_LEVEL)
    if unknown:
        raise ImproperlyConfigured(
            f"settings.STOKER has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(TOP_LEVEL))}"
        )
    storage, login_url = raw.get("storage"), raw.get("login_url")
    for name, value in (("storage", storage), ("login_url", login_url)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ImproperlyConfigured(
                f"STOKER[{name!r}] must be a non-empty string, got {value!r}"
            )
    return StokerSettings(
        storage=storage,
        app=_section(raw, "app", APP_OPTIONS),
        server=_section(raw, "server", SERVER_OPTIONS),
        dashboard=_section(raw, "dashboard", DASHBOARD_OPTIONS),
        login_url=login_url,
    )


_lock = threading.Lock()
_app: stoker.App | None = None


def get_app() -> stoker.App:
    """The process's stoker App, opened on first use from STOKER["storage"] (default:
    $STOKER_STORAGE, else sqlite:///stoker.db) and STOKER["app"]; enqueue through it."""
    global _app
    with _lock:
        if _app is None:
            configured = stoker_settings()
            options = dict(configured.app)
            # Jobs open and close Django's connections as requests do (see connections.py).
            options["filters"] = [DjangoConnections(), *options.get("filters", ())]
            _app = stoker.App(configured.storage, **options)
        return _app
