"""`create_app` builds the dashboard (a Starlette ASGI app); `serve` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from stoker.dashboard import batches as batch_pages
from stoker.dashboard import routes_actions, routes_api, routes_metrics, routes_pages
from stoker.dashboard.config import Authorize, DashboardConfig, ReadOnly
from stoker.dashboard.render import RetriesCounter, make_environment, root_of
from stoker.dashboard.security import SecurityMiddleware

if TYPE_CHECKING:
    from stoker.client import Client
    from stoker.core.protocols import Monitor

STATIC = Path(__file__).parent / "static"


class DashboardOptions(TypedDict, total=False):
    """The keyword options of `create_app` (and of `serve`, `App.dashboard`), for `Unpack`."""

    authorize: Authorize | None
    basic_auth: tuple[str, str] | None
    allowed_hosts: Sequence[str] | None
    read_only: ReadOnly
    title: str
    server_timeout: timedelta
    secret_key: bytes | str | None
    bulk_time_budget: timedelta
    bulk_batch_size: int
    poll_interval: timedelta
    retries_scan_limit: int
    debug: bool


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith(f"{root_of(request)}/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    # Rendering reads the storage (nav counters): do it off the event loop.
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        routes_pages.error_page, request, str(exc.detail), exc.status_code
    )


def create_app(
    client: Client,
    *,
    authorize: Authorize | None = None,
    basic_auth: tuple[str, str] | None = None,
    allowed_hosts: Sequence[str] | None = None,
    read_only: ReadOnly = False,
    title: str = "stoker",
    server_timeout: timedelta = timedelta(minutes=5),
    secret_key: bytes | str | None = None,
    bulk_time_budget: timedelta = timedelta(seconds=20),
    bulk_batch_size: int = 500,
    poll_interval: timedelta = timedelta(seconds=2),
    retries_scan_limit: int = 2_000,
    debug: bool = False,
) -> Starlette:
    """The dashboard of `client` (an App, usually) as an ASGI application; mount it anywhere:

        routes = [Mount("/stoker", app=create_app(app))]

    It reads through the client's storage (as a read-only `Monitor`) and clock, and acts
    (requeue, delete, recurring jobs) through the client itself.

    - Local only by default: requests from loopback addresses (127.0.0.0/8, ::1) that name the
      host `localhost`, `127.0.0.1` or `[::1]` (a DNS-rebinding page names its own host).
      `authorize(request) -> bool` replaces that rule (403 when it says no); behind a reverse
      proxy every request looks local, so pass `authorize` or `basic_auth` there.
    - `basic_auth=(user, password)`: HTTP Basic authentication (401 until it is given); use it
      over HTTPS only. With `authorize` as well, both must pass.
    - `allowed_hosts`: the Host names to answer to ('jobs.example.com', '*.example.com', '*');
      default: any with `basic_auth`, else the three local names. Give them with `authorize`:
      a hook cannot tell a DNS-rebinding page from the dashboard's own.
    - POSTs need the page's CSRF token and must come from the dashboard's own origin.
    - `read_only=True` (or a callable(request) -> bool) hides every action and rejects POSTs.
    - `secret_key` signs CSRF tokens and flash messages; give all processes of one deployment
      the same key (default: random per process).
    - `server_timeout`: a server whose heartbeat is older is shown as dead (keep it equal to the
      servers' own `server_timeout`).
    """
    if isinstance(allowed_hosts, str):
        raise TypeError(f"allowed_hosts must be a sequence of host names, got {allowed_hosts!r}")
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    options: dict[str, Any] = {} if key is None else {"secret_key": key}
    runtime = client.runtime
    monitor: Monitor = runtime.storage
    config = DashboardConfig(
        client=client,
        monitor=monitor,
        clock=runtime.clock,
        title=title,
        authorize=authorize,
        basic_auth=basic_auth,
        allowed_hosts=None if allowed_hosts is None else tuple(allowed_hosts),
        read_only=read_only,
        server_timeout=server_timeout,
        bulk_time_budget=bulk_time_budget,
        bulk_batch_size=bulk_batch_size,
        poll_interval=poll_interval,
        retries_scan_limit=retries_scan_limit,
        **options,
    )
    dashboard = Starlette(
        debug=debug,
        routes=[
            *routes_actions.ROUTES,
            *routes_api.ROUTES,
            *routes_pages.ROUTES,
            *batch_pages.ROUTES,
            *routes_metrics.ROUTES,
            Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        ],
        middleware=[Middleware(SecurityMiddleware, config=config)],
        exception_handlers={HTTPException: _http_error},
    )
    dashboard.state.config = config
    dashboard.state.templates = make_environment()
    dashboard.state.retries_counter = RetriesCounter()
    return dashboard


def serve(
    client: Client,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    root_path: str = "",
    forwarded_allow_ips: str | None = None,
    **create_app_options: Unpack[DashboardOptions],
) -> None:
    """Serve the dashboard alone with uvicorn until interrupted (what `stoker dashboard` runs).

    `root_path` is the prefix a reverse proxy serves it under (links then start with it).
    uvicorn believes X-Forwarded-For only from `forwarded_allow_ips` (default: 127.0.0.1 and
    ::1, or $FORWARDED_ALLOW_IPS), and then the header's address is what the loopback rule
    sees: a proxy on this host, or `'*'`, can make a remote client look local. Behind a
    proxy, protect the dashboard with `authorize` or `basic_auth`.
    """
    import uvicorn

    asgi = create_app(client, **create_app_options)
    uvicorn.run(
        asgi,
        host=host,
        port=port,
        root_path=root_path.rstrip("/"),
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="info",
    )
