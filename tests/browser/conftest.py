"""Browser fixtures: the dashboard (mounted at /stoker) served by uvicorn in a thread, an
embedded stoker server running jobs, and Debian's chromium driven by Playwright.

Without chromium or Playwright these tests skip on a developer machine and FAIL in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import stoker

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Screenshots of every page a test opened, to look at after a run (gitignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-results" / "browser"
MOUNT = "/stoker"
SERVER_OPTIONS = {
    "workers": 2,
    "queues": ["default"],  # jobs on other queues stay Enqueued for the list tests
    "poll_interval": 0.1,
    "scheduler_interval": 0.1,
    "heartbeat_interval": 0.3,
    "server_timeout": 1.5,
    "cancellation_interval": 0.1,
    "shutdown_timeout": 3.0,
}


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright pytest-playwright)"
    if not os.path.exists(CHROMIUM) and not shutil.which("chromium"):
        return f"chromium is not installed ({CHROMIUM}; apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    if reason is None or IN_CI:  # in CI the tests run and fail (see require_browser)
        return
    browser_dir = Path(__file__).parent
    for item in items:
        if browser_dir in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def require_browser() -> None:
    reason = _missing()
    if reason is not None:
        pytest.fail(f"{reason} (CI=true: browser tests are required)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    args = {**browser_type_launch_args, "args": ["--disable-gpu", "--disable-quic"]}
    if os.path.exists(CHROMIUM):  # else: browsers from `playwright install` (dev laptops)
        args["executable_path"] = CHROMIUM
    return args


@pytest.fixture(scope="session")
def browser_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stoker.App]:
    """One App for the session (STOKER_BROWSER_STORAGE picks another storage URL)."""
    url = os.environ.get("STOKER_BROWSER_STORAGE") or (
        f"sqlite:///{tmp_path_factory.mktemp('browser')}/stoker.db"
    )
    application = stoker.App(url)
    with application.server(**SERVER_OPTIONS):
        yield application
    application.close()


@pytest.fixture(scope="session")
def base_url(browser_app: stoker.App) -> Iterator[str]:
    """Overrides pytest-playwright's: the host app with the dashboard mounted at /stoker."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    from stoker.dashboard import create_app

    dashboard = create_app(browser_app, poll_interval=timedelta(milliseconds=500))
    host = Starlette(
        routes=[
            Route("/", lambda request: PlainTextResponse("host application")),
            Mount(MOUNT, app=dashboard),
        ]
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(host, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Screenshots land here (gitignored); look at them, they are what users see."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
