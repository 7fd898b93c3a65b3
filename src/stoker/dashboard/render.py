"""Rendering pages: the Jinja environment, what every page gets, and the live nav counters."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stoker.core.states import STATE_NAMES
from stoker.core.version import __version__
from stoker.dashboard import formatting as fmt
from stoker.dashboard.config import PAGE_SIZES, DashboardConfig
from stoker.dashboard.security import (
    clear_flash,
    config_of,
    csrf_token,
    is_read_only,
    read_flash,
    store_csrf_cookie,
)
from stoker.dashboard.system import scan_retries

TEMPLATES = Path(__file__).parent / "templates"
RETRIES_CACHE_SECONDS = 5.0


def root_of(request: Request) -> str:
    """The prefix the dashboard is mounted under ('' at the top); every URL starts with it."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def job_url(root: str, job_id: str) -> str:
    # Job ids are opaque: any character is quoted, '/' included.
    return f"{root}/job/{quote(job_id, safe='')}"


def state_url(root: str, state: str) -> str:
    return f"{root}/jobs/{state.lower()}"


def current_url(request: Request) -> str:
    """This request's path and query as sent (still percent-encoded), to come back to."""
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else quote(request.url.path)
    root = root_of(request)
    if root and not path.startswith(root + "/"):  # a proxy stripped the prefix before us
        path = root + path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return path + (f"?{query}" if query else "")


def make_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped unless a template says otherwise (none does)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fmt=fmt,
        job_url=job_url,
        state_url=state_url,
        STATE_NAMES=STATE_NAMES,
        PAGE_SIZES=PAGE_SIZES,
        SORT_LABELS=(
            ("newest", "Newest first"),
            ("oldest", "Oldest first"),
            ("due", "Due soonest first"),
            ("due-last", "Due latest first"),
        ),
        version=__version__,
    )
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    # Text that comes from jobs (log lines, exception messages, reasons): bidi controls and
    # other invisible characters shown as escapes, so they cannot reorder what is displayed.
    env.filters["visible"] = lambda value: fmt.visible(str(value))
    return env


@dataclass
class RetriesCounter:
    """The nav's retries count, cached a few seconds: finding retries is a bounded scan."""

    value: int = 0
    complete: bool = True
    at: float = -1e9
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, config: DashboardConfig) -> tuple[int, bool]:
        with self.lock:
            if time.monotonic() - self.at < RETRIES_CACHE_SECONDS:
                return self.value, self.complete
        scan = scan_retries(config.monitor, 0, 0, config.retries_counter_scan_limit)
        with self.lock:
            self.value, self.complete, self.at = scan.matched, scan.complete, time.monotonic()
        return self.value, self.complete


def nav_counts(request: Request) -> dict[str, Any]:
    """Numbers the navigation shows (and /api/stats returns, refreshed by the page's script)."""
    config = config_of(request)
    storage = config.monitor
    now = config.clock.now()
    states = storage.count_by_state()
    retries, complete = request.app.state.retries_counter.get(config)
    servers = storage.list_servers()
    alive = sum(1 for s in servers if now - s.heartbeat_at <= config.server_timeout)
    return {
        "states": states,
        "retries": retries,
        "retries_complete": complete,
        "recurring": len(storage.list_recurring()),
        "batches": storage.count_batches(),
        "servers": alive,
        "servers_dead": len(servers) - alive,
    }


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    config = config_of(request)
    root = root_of(request)
    read_only = is_read_only(request)
    now = config.clock.now()
    values = {
        "request": request,
        "root": root,
        "title": config.title,
        "read_only": read_only,
        "csrf": "" if read_only else csrf_token(request),
        "flash": read_flash(request),
        "now": now,
        "nav": context.pop("nav", None) or nav_counts(request),
        "back": current_url(request),
        "poll_ms": int(config.poll_interval.total_seconds() * 1000),
        **context,
    }
    html = request.app.state.templates.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    store_csrf_cookie(request, response)
    clear_flash(request, response)
    return response
