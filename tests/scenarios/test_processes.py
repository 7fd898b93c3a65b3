"""`stoker server --processes N` runs N servers that share the work and stop together."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest

import stoker
from stoker.server.processes import CHILD_MARKER, is_supervised_child
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import wait_for_state
from tests.scenarios.processes import ROOT, start_server, stop

pytestmark = pytest.mark.slow


def test_processes_option_starts_servers_that_share_jobs_and_stop_on_sigterm(
    app: stoker.App, storage_url: str
) -> None:
    parent = start_server(storage_url, "--processes", "2", workers=2)
    try:
        wait_for(lambda: len(app.storage.list_servers()) == 2, 20, "two server processes")
        pids = {server.pid for server in app.storage.list_servers()}
        assert parent.pid not in pids
        job_ids = [app.enqueue(jobs.sleep_for, 0.3) for _ in range(8)]
        for job_id in job_ids:
            wait_for_state(app, job_id, "Succeeded", timeout=20)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(20) == 0
    finally:
        stop(parent)
    assert app.storage.list_servers() == []
    servers_used = {
        app.get_job(job_id).history[1].data["server_id"]  # type: ignore[union-attr]
        for job_id in job_ids
    }
    assert len(servers_used) == 2


def _children_of(pid: int) -> list[int]:
    """The pids whose parent is `pid`, read from /proc (Linux)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry))
    return children


# CI (CI=true, Linux) always runs it; only a developer machine without /proc skips it.
@pytest.mark.skipif(
    not os.path.isdir("/proc") and os.environ.get("CI", "").lower() != "true",
    reason="reads the process tree from /proc",
)
@pytest.mark.parametrize(
    "spelling", [["-p2"], ["-p", "2"], ["--processes=2"], ["--processes", "2"]]
)
def test_processes_starts_exactly_that_many_servers_whatever_the_spelling(
    sqlite_url: str, spelling: list[str]
) -> None:
    command = [
        sys.executable, "-m", "stoker", "--log-level", "WARNING", "server",
        "--storage", sqlite_url, "--workers", "1", "--poll-interval", "0.2", *spelling,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # A session of its own: if the children fork again, the whole tree is killed at the end.
    parent = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        with stoker.App(sqlite_url) as app:
            wait_for(lambda: len(app.storage.list_servers()) == 2, 20, "two server processes")
            children = _children_of(parent.pid)
            assert len(children) == 2
            assert {server.pid for server in app.storage.list_servers()} == set(children)
            assert all(_children_of(child) == [] for child in children)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(20) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


def test_an_abbreviated_processes_option_is_refused() -> None:
    for spelling in (["--proc", "2"], ["--process=2"]):
        done = subprocess.run(
            [sys.executable, "-m", "stoker", "server", "--storage", "sqlite://:memory:", *spelling],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        assert "unrecognized arguments" in done.stderr


def test_an_inherited_child_marker_does_not_make_a_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHILD_MARKER, str(os.getppid() + 12345))
    assert not is_supervised_child()
    monkeypatch.setenv(CHILD_MARKER, str(os.getppid()))
    assert is_supervised_child()
