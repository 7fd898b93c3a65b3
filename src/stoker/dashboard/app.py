"""`create_app` builds the dashboard (a Starlette ASGI app); `serve` runs it with uvicorn."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from stoker.dashboard import routes_actions, routes_api, routes_pages
from stoker.dashboard.config import Authorize, DashboardConfig, ReadOnly
from stoker.dashboard.render import RetriesCounter, make_environment, root_of
from stoker.dashboard.security import SecurityMiddleware

if TYPE_CHECKING:
    from stoker.app import App

STATIC = Path(__file__).parent / "static"


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
    app: App,
    *,
    authorize: Authorize | None = None,
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
    """The dashboard of `app` as an ASGI application; mount it anywhere:

        routes = [Mount("/stoker", app=create_app(app))]

    - Only requests from loopback addresses (127.0.0.0/8, ::1) are answered unless `authorize`
      is given; then `authorize(request) -> bool` alone decides (403 when it says no). Behind a
      reverse proxy every request looks local: pass `authorize` there.
    - `read_only=True` (or a callable(request) -> bool) hides every action and rejects POSTs.
    - `secret_key` signs CSRF tokens and flash messages; give all processes of one deployment
      the same key (default: random per process).
    - `server_timeout`: a server whose heartbeat is older is shown as dead (keep it equal to the
      servers' own `server_timeout`).
    """
    key = secret_key.encode() if isinstance(secret_key, str) else secret_key
    options: dict[str, Any] = {} if key is None else {"secret_key": key}
    config = DashboardConfig(
        app=app,
        title=title,
        authorize=authorize,
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
    app: App, *, host: str = "127.0.0.1", port: int = 8000, **create_app_options: Any
) -> None:
    """Serve the dashboard alone with uvicorn until interrupted (what `stoker dashboard` runs)."""
    import uvicorn

    asgi = create_app(app, **create_app_options)
    # uvicorn trusts X-Forwarded-For only from 127.0.0.1: behind a local proxy the client's real
    # address is what the loopback rule sees.
    uvicorn.run(asgi, host=host, port=port, log_level="info")
