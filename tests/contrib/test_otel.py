"""OpenTelemetry tracing in one process, on every storage: spans, their links and attributes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import stoker
from stoker.contrib.otel import TRACE_CONTEXT_PARAM, OpenTelemetryFilter
from tests.aio import run
from tests.contrib import otel_jobs as jobs
from tests.contrib.conftest import spans_named
from tests.polling import wait_for
from tests.scenarios import scenario_jobs
from tests.scenarios.conftest import FAST, wait_for_state


@pytest.fixture
def app(storage_url: str, provider: TracerProvider) -> Iterator[stoker.App]:
    application = stoker.App(storage_url, filters=[OpenTelemetryFilter(provider)])
    yield application
    application.close()


def ids(span: ReadableSpan) -> list[str]:
    context = span.get_span_context()
    assert context is not None
    return [trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)]


def traceparent_of(span: ReadableSpan) -> str:
    """The W3C traceparent header of `span` (version 00, its trace flags in hex)."""
    context = span.get_span_context()
    assert context is not None
    trace_id, span_id = ids(span)
    return f"00-{trace_id}-{span_id}-{context.trace_flags:02x}"


def attribute(span: ReadableSpan, key: str) -> object:
    assert span.attributes is not None
    return span.attributes[key]


def parent_of(span: ReadableSpan) -> str | None:
    return trace.format_span_id(span.parent.span_id) if span.parent is not None else None


def process_spans(exporter: InMemorySpanExporter, count: int) -> list[ReadableSpan]:
    wait_for(
        lambda: len(spans_named(exporter, "process default")) >= count,
        what=f"{count} process spans",
    )
    return spans_named(exporter, "process default")


def test_an_enqueued_job_runs_in_a_process_span_that_continues_the_enqueuers_trace(
    app: stoker.App, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with provider.get_tracer("test").start_as_current_span("request") as request:
        job_id = app.enqueue(jobs.current_span_ids)
    (publish,) = spans_named(exporter, "publish default")
    trace_id, publish_id = ids(publish)
    assert publish.kind is SpanKind.PRODUCER
    assert parent_of(publish) == trace.format_span_id(request.get_span_context().span_id)
    assert dict(publish.attributes or {}) == {
        "messaging.system": "stoker",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": "default",
        "messaging.message.id": job_id,
        "stoker.job.function": "tests.contrib.otel_jobs:current_span_ids",
        "stoker.job.state": "Enqueued",
    }
    info = app.get_job(job_id)
    assert info is not None
    assert info.params[TRACE_CONTEXT_PARAM] == {"traceparent": traceparent_of(publish)}

    with app.server(workers=1, **FAST):
        done = wait_for_state(app, job_id, "Succeeded")
    (process,) = process_spans(exporter, 1)
    assert process.kind is SpanKind.CONSUMER
    assert ids(process)[0] == trace_id
    assert parent_of(process) == publish_id
    assert done.result == ids(process)  # current while the function ran
    assert process.status.status_code is StatusCode.UNSET
    assert dict(process.attributes or {}) == {
        "messaging.system": "stoker",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": "default",
        "messaging.message.id": job_id,
        "stoker.job.function": "tests.contrib.otel_jobs:current_span_ids",
        "stoker.job.attempt": 1,
    }


def test_each_retry_is_a_new_span_of_the_same_trace_with_the_error_recorded(
    app: stoker.App, exporter: InMemorySpanExporter
) -> None:
    job_id = app.with_options(retries=1, retry_delays=[0]).enqueue(jobs.fail, "no luck")
    (publish,) = spans_named(exporter, "publish default")
    with app.server(workers=1, **FAST):
        wait_for_state(app, job_id, "Failed")
    first, second = process_spans(exporter, 2)
    assert [attribute(span, "stoker.job.attempt") for span in (first, second)] == [1, 2]
    for span in (first, second):
        assert ids(span)[0] == ids(publish)[0]
        assert parent_of(span) == ids(publish)[1]
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "ValueError: no luck"
        assert attribute(span, "error.type") == "builtins.ValueError"
        (event,) = span.events
        assert event.name == "exception"
        assert event.attributes is not None
        assert event.attributes["exception.message"] == "no luck"


def test_a_timeout_is_recorded_on_the_span_though_it_is_no_exception(
    app: stoker.App, exporter: InMemorySpanExporter
) -> None:
    limited = app.with_options(retries=0, timeout=timedelta(seconds=0.2))
    job_id = limited.enqueue(scenario_jobs.busy_loop, 30)
    with app.server(workers=1, **FAST):
        wait_for_state(app, job_id, "Failed")
    process = wait_for(lambda: spans_named(exporter, "process default"), what="a process span")[0]
    assert process.status.status_code is StatusCode.ERROR
    assert attribute(process, "error.type") == "stoker.errors.JobTimeoutError"


def test_an_async_job_runs_in_its_process_span(
    app: stoker.App, exporter: InMemorySpanExporter
) -> None:
    job_id = app.enqueue(jobs.current_span_ids_async)
    (publish,) = spans_named(exporter, "publish default")
    with app.server(workers=1, **FAST):
        done = wait_for_state(app, job_id, "Succeeded")
    (process,) = process_spans(exporter, 1)
    assert parent_of(process) == ids(publish)[1]
    assert done.result == ids(process)


def test_delayed_continued_and_bulk_jobs_carry_their_publish_spans_context(
    app: stoker.App, exporter: InMemorySpanExporter
) -> None:
    delayed = app.enqueue_in(timedelta(hours=1), jobs.add, 1, 2)
    child = app.continue_with(delayed, jobs.add, 3, 4)
    bulk = app.enqueue_many(jobs.add, [(1, 1), (2, 2), (3, 3)])
    scheduled, awaiting, batch = spans_named(exporter, "publish default")
    assert attribute(scheduled, "stoker.job.state") == "Scheduled"
    assert attribute(awaiting, "stoker.job.state") == "Awaiting"
    assert attribute(awaiting, "stoker.job.parent_id") == delayed
    assert attribute(batch, "messaging.batch.message_count") == 3
    assert "messaging.message.id" not in (batch.attributes or {})
    for job_id, span in [(delayed, scheduled), (child, awaiting)] + [(b, batch) for b in bulk]:
        info = app.get_job(job_id)
        assert info is not None
        assert info.params[TRACE_CONTEXT_PARAM] == {"traceparent": traceparent_of(span)}
        assert info.params["retries"] == 10  # the job's own params are all still there


def test_a_recurring_occurrence_starts_a_trace_of_its_own(
    app: stoker.App, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with provider.get_tracer("test").start_as_current_span("setup"):
        app.recurring.add_or_update("nightly", "0 3 * * *", jobs.current_span_ids)
    job_id = app.recurring.trigger("nightly")
    info = app.get_job(job_id)
    assert info is not None
    assert TRACE_CONTEXT_PARAM not in info.params
    with app.server(workers=1, **FAST):
        done = wait_for_state(app, job_id, "Succeeded")
    (process,) = process_spans(exporter, 1)
    assert process.parent is None
    assert done.result == ids(process)


def test_with_tracing_off_no_trace_context_is_stored(storage_url: str) -> None:
    # The API's no-op provider (what an application without the SDK gets): no span, no param.
    off = OpenTelemetryFilter(trace.NoOpTracerProvider())
    with stoker.App(storage_url, filters=[off]) as app:
        job_id = app.enqueue(jobs.add, 1, 2)
        info = app.get_job(job_id)
        assert info is not None
        assert TRACE_CONTEXT_PARAM not in info.params


def test_an_async_app_enqueue_is_a_child_of_the_span_current_where_it_is_awaited(
    storage_url: str, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async def handle_request() -> str:
        jobs_app = stoker.AsyncApp(storage_url, filters=[OpenTelemetryFilter(provider)])
        try:
            with provider.get_tracer("test").start_as_current_span("request"):
                return await jobs_app.enqueue(jobs.add, 1, 2)
        finally:
            await jobs_app.aclose()

    job_id = run(handle_request())
    (request,) = spans_named(exporter, "request")
    (publish,) = spans_named(exporter, "publish default")
    assert parent_of(publish) == ids(request)[1]
    assert attribute(publish, "messaging.message.id") == job_id
