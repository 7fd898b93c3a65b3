"""`stoker server --processes N` runs N servers that share the work and stop together."""

from __future__ import annotations

import signal

import pytest

import stoker
from tests.polling import wait_for
from tests.scenarios import scenario_jobs as jobs
from tests.scenarios.conftest import wait_for_state
from tests.scenarios.processes import start_server, stop

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
