"""Helpers of the framework examples' tests: a web or job server as a child process, CSRF."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
DASHBOARD_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def python_env(extra: Mapping[str, str], path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment of a child process: ours, `extra`, and `path` first on PYTHONPATH."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path), str(REPO), env.get("PYTHONPATH", "")])
    return env


@contextmanager
def child_process(
    args: Sequence[str], cwd: Path, env: Mapping[str, str]
) -> Iterator[subprocess.Popen[str]]:
    """`python *args` running until the block ends (SIGTERM, then SIGKILL after 10 s); its
    output goes to a file that is shown if the block fails."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, env=dict(env), stdout=log, stderr=log, text=True
        )
        try:
            yield process
        except BaseException:
            log.seek(0)
            print(f"--- output of {' '.join(args)}:\n{log.read()}")
            raise
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_serving(base_url: str, process: subprocess.Popen[str], path: str = "/") -> None:
    """Poll `base_url + path` until the server answers at all (any status)."""

    def answers() -> bool:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            httpx.get(base_url + path, timeout=2)
        except httpx.TransportError:
            return False
        return True

    wait_for(answers, 30, f"{base_url} to answer")


def dashboard_csrf(client: httpx.Client, page: str) -> str:
    """Open a dashboard page as a browser would (setting its CSRF cookie); the form token."""
    response = client.get(page)
    assert response.status_code == 200, response.text
    match = DASHBOARD_CSRF.search(response.text)
    assert match, "a dashboard page renders its CSRF token"
    return match.group(1)


def delete_from_dashboard(client: httpx.Client, prefix: str, job_id: str) -> httpx.Response:
    """Press the job page's Delete button of an Enqueued job, through the mount."""
    token = dashboard_csrf(client, f"{prefix}/job/{job_id}")
    return client.post(
        f"{prefix}/jobs/action",
        data={"csrf_token": token, "expected_state": "Enqueued", "delete_one": job_id},
        # What a browser sends with a form of the page: the dashboard checks it is its own.
        headers={"origin": str(client.base_url).rstrip("/"), "sec-fetch-site": "same-origin"},
    )
