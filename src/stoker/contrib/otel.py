"""OpenTelemetry tracing: a publish span per enqueue, a process span per run, one trace between.

Add the filter to the App, in the process that enqueues and in every server:

    app = stoker.App(url, filters=[OpenTelemetryFilter()])

Needs the `stoker[otel]` extra (opentelemetry-api); spans go wherever the application's
TracerProvider sends them (with no SDK configured, the API's no-op tracer costs next to
nothing and no trace context is stored).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from stoker.core.context import JobContext
from stoker.core.job_filters import Creation
from stoker.core.records import NewJob
from stoker.core.version import __version__

# The job param that carries the creator's trace context (the propagator's fields: W3C
# `traceparent` and `tracestate`, and `baggage` with the default propagators).
TRACE_CONTEXT_PARAM = "trace_context"
MESSAGING_SYSTEM = "stoker"


class OpenTelemetryFilter:
    """A creation and perform filter that traces jobs following the messaging conventions.

    - Creating jobs (`enqueue`, `enqueue_in`/`enqueue_at`, `continue_with`, `enqueue_many`):
      a PRODUCER span "publish <queue>", the current span's child; its context is stored in
      each job's params under TRACE_CONTEXT_PARAM.
    - Running a job: a CONSUMER span "process <queue>" whose parent is that stored context,
      current while the function runs (its own spans are children). Every attempt (retries,
      requeues) is a new span of the same trace. A job created without a trace context (a
      recurring occurrence) starts a trace of its own.
    - An exception (a timeout too) is recorded on the span, with status ERROR.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        # Without a provider, the global one, looked up when spans start: set it at any time.
        self._tracer: Tracer = trace.get_tracer(
            "stoker", __version__, tracer_provider=tracer_provider
        )

    @contextmanager
    def creating(self, creation: Creation) -> Iterator[None]:
        if not creation.jobs:
            yield
            return
        first = creation.jobs[0]
        with self._tracer.start_as_current_span(
            f"publish {first.queue}",
            kind=SpanKind.PRODUCER,
            attributes=_publish_attributes(first, len(creation.jobs)),
            record_exception=False,  # recorded below: BaseExceptions too
            set_status_on_exception=False,
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)  # the publish span is current: its context is stored
            if carrier:
                creation.jobs = _with_trace_context(creation.jobs, carrier)
            with _errors_recorded(span):
                yield
            if len(creation.ids) == 1:
                span.set_attribute("messaging.message.id", creation.ids[0])

    @contextmanager
    def performing(self, job: JobContext) -> Iterator[None]:
        with (
            self._tracer.start_as_current_span(
                f"process {job.queue}",
                context=creator_context(job.params),
                kind=SpanKind.CONSUMER,
                attributes=_process_attributes(job),
                record_exception=False,
                set_status_on_exception=False,
            ) as span,
            _errors_recorded(span),
        ):
            yield


def creator_context(params: Mapping[str, Any]) -> Context:
    """The trace context stored with a job; an empty one (a new trace) if it has none, or if
    its param is not a mapping of strings (someone else's param of that name)."""
    carrier = params.get(TRACE_CONTEXT_PARAM)
    if not isinstance(carrier, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in carrier.items()
    ):
        return Context()
    return propagate.extract(carrier, context=Context())


def _publish_attributes(first: NewJob, count: int) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "send",  # "publish" in older conventions (deprecated)
        "messaging.operation.name": "publish",
        "messaging.destination.name": first.queue,
        "stoker.job.function": first.function,
        "stoker.job.state": first.state.name,
    }
    if count > 1:
        attributes["messaging.batch.message_count"] = count
    if first.parent_id is not None:
        attributes["stoker.job.parent_id"] = first.parent_id
    return attributes


def _process_attributes(job: JobContext) -> dict[str, str | int]:
    return {
        "messaging.system": MESSAGING_SYSTEM,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.destination.name": job.queue,
        "messaging.message.id": job.id,
        "stoker.job.function": job.function,
        "stoker.job.attempt": job.retry_count + 1,  # 1 for the first run, 2 for the first retry
    }


def _with_trace_context(jobs: list[NewJob], carrier: dict[str, str]) -> list[NewJob]:
    """The jobs with the trace context in their params. Jobs of one `enqueue_many` share one
    params mapping (storages encode it once), and still do."""
    traced: dict[int, dict[str, Any]] = {}
    result = []
    for job in jobs:
        params = traced.get(id(job.params))
        if params is None:
            params = traced[id(job.params)] = {**job.params, TRACE_CONTEXT_PARAM: carrier}
        result.append(replace(job, params=params))
    return result


@contextmanager
def _errors_recorded(span: Span) -> Iterator[None]:
    """Record what the block raised on `span`, status ERROR: any BaseException (a timeout or
    cancellation is one), which the API's own recording leaves out."""
    try:
        yield
    except BaseException as exc:
        span.record_exception(exc)
        span.set_attribute("error.type", f"{type(exc).__module__}.{type(exc).__qualname__}")
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__qualname__}: {exc}"))
        raise


__all__ = ["MESSAGING_SYSTEM", "TRACE_CONTEXT_PARAM", "OpenTelemetryFilter", "creator_context"]
