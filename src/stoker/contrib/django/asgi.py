"""The dashboard inside a Django ASGI application, open to logged-in staff users.

# mysite/asgi.py
from django.core.asgi import get_asgi_application
from stoker.contrib.django.asgi import mount_dashboard

application = mount_dashboard(get_asgi_application(), "/stoker")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, Unpack
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from stoker.contrib.django.checks import missing_apps, missing_apps_message
from stoker.contrib.django.conf import get_app, stoker_settings
from stoker.dashboard import DashboardOptions

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.contrib.auth.models import AnonymousUser

    User = AbstractBaseUser | AnonymousUser

# The scope key under which DjangoUserMiddleware leaves the request's Django user. Only the
# server puts keys in a scope, so a client cannot plant a user there.
USER_KEY = "stoker.django.user"


def staff_only(user: User) -> bool:
    """The default rule: active staff users (those who may open Django's admin)."""
    return bool(user.is_active and getattr(user, "is_staff", False))


def user_of_session(session_key: str | None) -> User:
    """The user logged in with this session cookie (AnonymousUser if none or stale), found as
    Django finds it for a view, session hash check included."""
    close_old_connections()  # as Django does around each request: no connection outlives its use
    try:
        request = HttpRequest()
        request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
        return get_user(request)
    finally:
        close_old_connections()


class DjangoUserMiddleware:
    """Finds the request's Django user (in a thread: the ORM must not run on the event loop)
    and keeps it in the scope for the dashboard's authorize hook; sends an anonymous visitor
    to `login_url` when one is given."""

    def __init__(self, app: ASGIApp, login_url: str | None) -> None:
        self.app = app
        self.login_url = login_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session_key = request.cookies.get(settings.SESSION_COOKIE_NAME)
        user = await sync_to_async(user_of_session, thread_sensitive=True)(session_key)
        scope[USER_KEY] = user
        if self._sends_to_login(request, user):
            # The path is the full one (Starlette's Mount keeps the prefix in it).
            query = f"?{request.url.query}" if request.url.query else ""
            target = f"{self.login_url}?{urlencode({'next': request.url.path + query})}"
            await RedirectResponse(target, 302)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _sends_to_login(self, request: Request, user: User) -> bool:
        """An anonymous browser opening a page (not the JSON API, not a form post: those get
        the dashboard's 403) is sent to log in."""
        api = f"{request.scope.get('root_path', '')}/api/"
        return (
            self.login_url is not None
            and not user.is_authenticated
            and request.method in ("GET", "HEAD")
            and not request.url.path.startswith(api)
        )


def authorize_users(allow: Callable[[User], bool]) -> Callable[[Request], bool]:
    """The dashboard's authorize hook: the user DjangoUserMiddleware found is logged in and
    `allow` lets them in."""

    def authorize(request: Request) -> bool:
        user = request.scope.get(USER_KEY)
        return user is not None and bool(user.is_authenticated) and allow(user)

    return authorize


def dashboard_hosts(allowed_hosts: Sequence[str]) -> list[str] | None:
    """Django's ALLOWED_HOSTS in the dashboard's terms ('.example.com' is the domain and its
    sub-domains); None (the dashboard's local names) when the setting is empty."""
    hosts: list[str] = []
    for host in allowed_hosts:
        if host.startswith("."):
            hosts.extend((host[1:], f"*{host}"))
        else:
            hosts.append(host)
    return hosts or None


def mount_dashboard(
    django_app: ASGIApp,
    prefix: str = "/stoker",
    *,
    allow: Callable[[User], bool] = staff_only,
    **options: Unpack[DashboardOptions],
) -> ASGIApp:
    """`django_app` with stoker's dashboard at `prefix`, for the users `allow` lets in (active
    staff by default). The options come from STOKER["dashboard"], then `options`; the Host
    names default to ALLOWED_HOSTS and the key signing its forms is derived from SECRET_KEY,
    so every process of the site accepts the others' forms."""
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise ValueError(f"prefix must start with '/' and not end with one, got {prefix!r}")
    missing = missing_apps()
    if missing:
        raise ImproperlyConfigured(missing_apps_message(missing))
    if "authorize" in options:
        raise TypeError("mount_dashboard takes `allow(user) -> bool`, not `authorize`")
    configured = stoker_settings()
    merged: dict[str, Any] = {
        "allowed_hosts": dashboard_hosts(settings.ALLOWED_HOSTS),
        "secret_key": salted_hmac("stoker.contrib.django", "dashboard").digest(),
        **configured.dashboard,
        **options,
    }
    dashboard = get_app().dashboard(authorize=authorize_users(allow), **merged)
    guarded = DjangoUserMiddleware(dashboard, configured.login_url)
    # Django answers everything else; the Router also answers lifespan, which Django cannot.
    return Router(routes=[Mount(prefix, app=guarded)], default=django_app)
