"""The OpenTelemetry filter without a storage: failed creations, and odd stored contexts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from stoker.contrib.otel import TRACE_CONTEXT_PARAM, OpenTelemetryFilter, creator_context
from stoker.core.job_filters import create_filtered
from stoker.core.records import NewJob, StateRecord

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_failed_creation_is_recorded_on_its_publish_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    job = NewJob("m:f", "[]", "{}", "mail", StateRecord("Enqueued", NOW), NOW)

    def create(jobs: list[NewJob]) -> list[str]:
        assert TRACE_CONTEXT_PARAM in jobs[0].params  # stored with the job it describes
        raise ConnectionError("database unreachable")

    with pytest.raises(ConnectionError):
        create_filtered([OpenTelemetryFilter(provider)], [job], create)
    (span,) = exporter.get_finished_spans()
    assert span.name == "publish mail"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ConnectionError: database unreachable"
    assert span.attributes is not None
    assert "messaging.message.id" not in span.attributes


@pytest.mark.parametrize(
    "stored",
    [None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", {"traceparent": 7}, {}],
)
def test_a_job_without_a_usable_trace_context_starts_a_new_trace(stored: object) -> None:
    params = {} if stored is None else {TRACE_CONTEXT_PARAM: stored}
    assert trace.get_current_span(creator_context(params)) is trace.INVALID_SPAN


def test_a_stored_trace_context_is_the_parent_of_the_run() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    parent = trace.get_current_span(
        creator_context({TRACE_CONTEXT_PARAM: {"traceparent": traceparent}})
    )
    found = parent.get_span_context()
    assert trace.format_trace_id(found.trace_id) == "0af7651916cd43dd8448eb211c80319c"
    assert trace.format_span_id(found.span_id) == "b7ad6b7169203331"
    assert found.is_remote
