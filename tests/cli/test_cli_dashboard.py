"""`stoker dashboard` as a real process: access options, a root path behind a proxy."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.cli.conftest import ROOT, assert_clean_error, run_stoker, subprocess_env

PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def dashboard_process(sqlite_url: str) -> Iterator[str]:
    """`stoker dashboard` with basic auth (from the environment) under /stoker; its URL."""
    port = _free_port()
    command = [
        sys.executable, "-m", "stoker", "--log-level", "WARNING", "dashboard",
        "--storage", sqlite_url, "--port", str(port), "--root-path", "/stoker/",
        "--secret-key", "k" * 32,
    ]  # fmt: skip
    env = subprocess_env(STOKER_DASHBOARD_BASIC_AUTH=f"admin:{PASSWORD}")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_dashboard_process_asks_for_credentials_and_links_under_its_root_path(
    dashboard_process: str,
) -> None:
    # A proxy that serves it under /stoker strips the prefix: the process sees /jobs/failed.
    assert httpx.get(f"{dashboard_process}/jobs/failed").status_code == 401
    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    page = httpx.get(
        f"{dashboard_process}/jobs/failed", headers={"authorization": f"Basic {token}"}
    )
    assert page.status_code == 200
    assert 'href="/stoker/jobs/enqueued' in page.text
    assert 'href="/jobs/' not in page.text


def test_dashboard_access_options_are_checked_before_it_listens(sqlite_url: str) -> None:
    for args, message in [
        (["--basic-auth", "admin"], "USER:PASSWORD"),
        (["--basic-auth", "admin:short"], "at least 8"),
        (["--secret-key", "short"], "at least 16"),
        (["--authorize", "tests.cli.cli_jobs:missing"], "has no attribute 'missing'"),
    ]:
        result = run_stoker(
            "--log-level", "WARNING", "dashboard", "--storage", sqlite_url, "--port", "1", *args
        )
        assert_clean_error(result, message)
