"""The dashboard inside a Flask (WSGI) application, through the a2wsgi ASGI-to-WSGI bridge.

from stoker.contrib.flask import mount_dashboard

mount_dashboard(flask_app, jobs, allow=lambda: session.get("role") == "admin")
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Unpack, cast

from a2wsgi import ASGIMiddleware
from flask import Flask
from starlette.requests import Request

import stoker
from stoker.dashboard import DashboardOptions

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

# The WSGI environ key carrying the Flask side's decision to the dashboard's authorize hook.
# Clients set only HTTP_* keys through headers, so they cannot plant this one.
AUTHORIZED_KEY = "stoker.flask.authorized"


def authorized(request: Request) -> bool:
    """The dashboard's authorize hook: what DashboardDispatcher decided for this request."""
    environ = request.scope.get("wsgi_environ") or {}
    return environ.get(AUTHORIZED_KEY) is True


class DashboardDispatcher:
    """WSGI middleware: requests under `prefix` go to the dashboard after `allow()` ran in a
    Flask request context (so it can read `flask.session`, `flask_login.current_user`, `g`);
    all others go to the Flask application."""

    def __init__(
        self,
        flask_app: Flask,
        dashboard: WSGIApplication,
        prefix: str,
        allow: Callable[[], bool],
    ) -> None:
        self.flask_app = flask_app
        self.flask_wsgi = flask_app.wsgi_app
        self.dashboard = dashboard
        self.prefix = prefix
        self.allow = allow

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ.get("PATH_INFO", "")
        if path != self.prefix and not path.startswith(self.prefix + "/"):
            return self.flask_wsgi(environ, start_response)
        script_name = environ.get("SCRIPT_NAME", "") + self.prefix
        if path == self.prefix:  # the dashboard's pages live under prefix + "/"
            query = environ.get("QUERY_STRING", "")
            location = f"{script_name}/" + (f"?{query}" if query else "")
            start_response("308 Permanent Redirect", [("Location", location)])
            return [b""]
        with self.flask_app.request_context(environ):
            allowed = bool(self.allow())
        inner = {**environ, "SCRIPT_NAME": script_name, "PATH_INFO": path[len(self.prefix) :]}
        inner[AUTHORIZED_KEY] = allowed
        return self.dashboard(inner, start_response)


def mount_dashboard(
    flask_app: Flask,
    jobs: stoker.App,
    allow: Callable[[], bool],
    prefix: str = "/stoker",
    **options: Unpack[DashboardOptions],
) -> None:
    """Serve `jobs`' dashboard at `prefix` of `flask_app`, for the requests `allow()` (called
    in a Flask request context) lets in; the others get a 403 page. Forms are signed with a
    key derived from `flask_app.secret_key` when it is set, so all processes accept them; give
    `allowed_hosts` for any name besides localhost (see docs/integrations.md)."""
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix must start with '/' and not end with one, got {prefix!r}")
    if not callable(allow):
        raise TypeError(f"allow must be a callable() -> bool, got {allow!r}")
    if "authorize" in options:
        raise TypeError("mount_dashboard takes `allow() -> bool`, not `authorize`")
    merged: dict[str, Any] = dict(options)
    if flask_app.secret_key and "secret_key" not in merged:
        key = flask_app.secret_key
        key_bytes = key.encode() if isinstance(key, str) else key
        merged["secret_key"] = hmac.new(key_bytes, b"stoker.dashboard", hashlib.sha256).digest()
    asgi = jobs.dashboard(authorize=authorized, **merged)
    bridge = cast("WSGIApplication", ASGIMiddleware(cast(Any, asgi)))
    # Flask's documented way to wrap its WSGI app while keeping the Flask object.
    flask_app.wsgi_app = DashboardDispatcher(  # type: ignore[method-assign]
        flask_app, bridge, prefix, allow
    )
