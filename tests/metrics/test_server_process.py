"""`stoker server --metrics-port` as a real process, alone and with `--processes 2`."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import stoker
from tests.cli.conftest import ROOT, STOKER, subprocess_env
from tests.metrics import metrics_jobs
from tests.metrics.helpers import Samples, free_port, scrape, value
from tests.polling import wait_for

OK = "tests.metrics.metrics_jobs:ok"
BOOM = "tests.metrics.metrics_jobs:boom"
NAP = "tests.metrics.metrics_jobs:nap"


@contextmanager
def stoker_server(url: str, port: int, *options: str) -> Iterator[subprocess.Popen[str]]:
    command = [
        str(STOKER), "--log-level", "WARNING", "server", "--storage", url, "--workers", "2",
        "--poll-interval", "0.1", "--scheduler-interval", "0.2", "--shutdown-timeout", "5",
        "--metrics-port", str(port), *options,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=subprocess_env(), stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""


Expect = tuple[str, dict[str, str], float]


def scraped_when(port: int, ready: str, *expected: Expect) -> Samples:
    """Scrape until every (sample name, labels, value) of `expected` holds; a worker counts
    a finished job just after storing it, so the first scrapes may come a moment early."""

    def matches() -> Samples | None:
        samples = scrape(port)
        if samples is None:
            return None
        if all(value(samples, name, **labels) == count for name, labels, count in expected):
            return samples
        return None

    result: Samples = wait_for(matches, timeout=30, what=ready, step=0.1)
    return result


@pytest.mark.slow
def test_a_server_process_serves_its_metrics(any_storage_url: str) -> None:
    port = free_port()
    with stoker.App(any_storage_url) as app, stoker_server(any_storage_url, port):
        ids = [app.enqueue(metrics_jobs.ok, n) for n in range(3)]
        failed = app.with_options(retries=0).enqueue(metrics_jobs.boom)
        for job_id in [*ids, failed]:
            app.wait(job_id, timeout=30)
        labels = {"function": OK, "queue": "default"}
        failure = {"function": BOOM, "queue": "default", "state": "Failed"}
        samples = scraped_when(
            port,
            "3 runs and a failure",
            ("stoker_jobs_started_total", labels, 3),
            ("stoker_jobs_finished_total", {**labels, "state": "Succeeded"}, 3),
            ("stoker_jobs_finished_total", failure, 1),
        )
        assert value(samples, "stoker_jobs_created_total", **labels) is None  # made by the test
        assert value(samples, "stoker_job_retries_total", function=BOOM, queue="default") is None
        assert value(samples, "stoker_jobs", state="Succeeded") == 3
        assert value(samples, "stoker_jobs", state="Failed") == 1
        assert value(samples, "stoker_servers") == 1
        assert value(samples, "stoker_workers") == 2


@pytest.mark.slow
def test_two_server_processes_make_one_coherent_set(postgres_url: str) -> None:
    port = free_port()
    with stoker.App(postgres_url) as app, stoker_server(postgres_url, port, "--processes", "2"):
        wait_for(lambda: len(app.storage.list_servers()) == 2, timeout=30, what="two servers")
        ids = app.enqueue_many(metrics_jobs.nap, [(0.3,)] * 12)
        infos = [app.wait(job_id, timeout=30) for job_id in ids]
        runners = {
            entry.data["server_id"]
            for info in infos
            for entry in info.history
            if entry.name == "Processing"
        }
        assert len(runners) == 2, "both processes ran some of the jobs"
        labels = {"function": NAP, "queue": "default"}
        scraped_when(
            port,
            "12 runs added up",
            ("stoker_jobs_started_total", labels, 12),
            ("stoker_jobs_finished_total", {**labels, "state": "Succeeded"}, 12),
            ("stoker_job_duration_seconds_count", {**labels, "outcome": "Succeeded"}, 12),
        )
        # The storage's gauges, which the children keep up to date for the parent.
        wait_for(
            lambda: (
                (found := scrape(port)) is not None
                and value(found, "stoker_jobs", state="Succeeded") == 12
                and value(found, "stoker_servers") == 2
                and value(found, "stoker_workers") == 4
            ),
            timeout=30,
            what="the storage's gauges",
            step=0.1,
        )
