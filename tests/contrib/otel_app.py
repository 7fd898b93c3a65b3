"""The App of the `stoker server` subprocess in the OpenTelemetry test: spans to a JSON file.

The server loads it with `--app tests.contrib.otel_app:app`; the storage comes from
$STOKER_STORAGE and every finished span is appended, one JSON object a line, to the file
named by $STOKER_TEST_SPANS, where the test process reads them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import stoker
from stoker.contrib.otel import OpenTelemetryFilter


def describe(span: ReadableSpan) -> dict[str, Any]:
    """What the test checks of a span, in JSON."""
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
        "parent_id": trace.format_span_id(span.parent.span_id) if span.parent else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "pid": os.getpid(),
    }


class JsonLinesExporter(SpanExporter):
    """Appends each span to a file as one line of JSON (worker threads export concurrently)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(json.dumps(describe(span)) + "\n" for span in spans)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(
    SimpleSpanProcessor(JsonLinesExporter(Path(os.environ["STOKER_TEST_SPANS"])))
)
# The global provider: the filter is made without one, as an application would make it.
trace.set_tracer_provider(provider)
app = stoker.App(filters=[OpenTelemetryFilter()])
