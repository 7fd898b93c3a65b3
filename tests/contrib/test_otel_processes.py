"""One trace across processes: enqueued here, run by a real `stoker server` subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import stoker
from stoker.contrib.otel import OpenTelemetryFilter
from tests.cli.conftest import ROOT, STOKER, subprocess_env
from tests.contrib import otel_jobs as jobs
from tests.contrib.conftest import spans_named
from tests.polling import wait_for
from tests.scenarios.conftest import wait_for_state


def server_spans(path: Path) -> list[dict[str, Any]]:
    """The spans the server wrote so far (a line still being written is left for later)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()]


@dataclass(frozen=True)
class ServerProcess:
    spans: Path  # where its spans are written, one JSON object a line
    pid: int


@pytest.fixture
def server(storage_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """A `stoker server` process that traces its jobs to a JSON file."""
    spans = tmp_path / "spans.jsonl"
    env = subprocess_env(STOKER_STORAGE=storage_url, STOKER_TEST_SPANS=str(spans))
    process = subprocess.Popen(
        [
            str(STOKER), "--log-level", "WARNING", "server", "--app",
            "tests.contrib.otel_app:app", "--workers", "2", "--poll-interval", "0.1",
            "--scheduler-interval", "0.1", "--shutdown-timeout", "5",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        yield ServerProcess(spans, process.pid)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Traceback" not in err, err


@pytest.mark.slow
def test_a_job_enqueued_here_and_run_by_a_server_process_is_one_trace(
    storage_url: str,
    server: ServerProcess,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    with stoker.App(storage_url, filters=[OpenTelemetryFilter(provider)]) as app:
        with provider.get_tracer("test").start_as_current_span("request"):
            ok = app.enqueue(jobs.current_span_ids)
            flaky = app.with_options(retries=1, retry_delays=[0]).enqueue(jobs.fail, "twice")
        request, = spans_named(exporter, "request")  # fmt: skip
        publish_ok, publish_flaky = spans_named(exporter, "publish default")
        done = wait_for_state(app, ok, "Succeeded", timeout=30)
        wait_for_state(app, flaky, "Failed", timeout=30)

    trace_id = trace.format_trace_id(request.context.trace_id)
    wait_for(
        lambda: len(server_spans(server.spans)) >= 3, timeout=15, what="three spans of the server"
    )
    by_job: dict[str, list[dict[str, Any]]] = {}
    for span in server_spans(server.spans):
        assert span["name"] == "process default"
        assert span["pid"] == server.pid != os.getpid()
        by_job.setdefault(span["attributes"]["messaging.message.id"], []).append(span)

    (run,) = by_job[ok]
    assert run["kind"] == "CONSUMER"
    assert run["trace_id"] == trace_id
    assert run["parent_id"] == trace.format_span_id(publish_ok.context.span_id)
    assert done.result == [run["trace_id"], run["span_id"]]
    assert run["status"] == "UNSET"

    first, retry = sorted(by_job[flaky], key=lambda span: span["attributes"]["stoker.job.attempt"])
    for attempt, span in enumerate((first, retry), start=1):
        assert span["trace_id"] == trace_id
        assert span["parent_id"] == trace.format_span_id(publish_flaky.context.span_id)
        assert span["attributes"]["stoker.job.attempt"] == attempt
        assert span["status"] == "ERROR"
