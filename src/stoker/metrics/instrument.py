"""instrument(app): count an App's job events and expose them with the storage's gauges."""

from __future__ import annotations

import os
import threading
import weakref
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from stoker.core.runtime import Runtime
from stoker.metrics.events import JobMetrics
from stoker.metrics.storage_gauges import CachedSnapshot, StorageCollector

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from stoker.client import Client

# Where prometheus_client's multiprocess mode keeps each process's values (its own names).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_instrumented: weakref.WeakKeyDictionary[Runtime, Instrumentation] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def multiprocess_dir() -> str | None:
    """The directory of prometheus_client's multiprocess mode, None when it is off."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


class Instrumentation:
    """An App's metrics: `events` (its job events) and `exposed`, the registry to scrape: the
    events plus the storage's gauges, read at scrape time and kept `cache_seconds`.

    In multiprocess mode (PROMETHEUS_MULTIPROC_DIR set) the events go to that directory's
    files, and `exposed` adds up the events of every process that writes there."""

    def __init__(self, runtime: Runtime, registry: CollectorRegistry, cache_seconds: float) -> None:
        self.snapshots = CachedSnapshot(runtime.storage, cache_seconds)
        self.multiprocess_dir = multiprocess_dir()
        if self.multiprocess_dir is None:
            self.events = JobMetrics(registry)
            self.exposed = registry
        else:
            self.events = JobMetrics(None)
            self.exposed = CollectorRegistry()
            # prometheus_client leaves this constructor unannotated.
            MultiProcessCollector(self.exposed, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        self.exposed.register(StorageCollector(self.snapshots))
        self.registry = registry

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format (what `/metrics` answers)."""
        return generate_latest(self.exposed)

    def serve(self, port: int, address: str = "127.0.0.1") -> WSGIServer:
        """Answer `GET /metrics` on `address:port` from a daemon thread; returns the HTTP
        server (its `shutdown()` stops it)."""
        server, _thread = start_http_server(port, address, self.exposed)
        return server


def instrument(
    app: Client, *, registry: CollectorRegistry | None = None, cache_seconds: float = 1.0
) -> Instrumentation:
    """Count the job events of `app` (a `stoker.App`, or any client) and return what exposes
    them; once per App (a second call returns the first Instrumentation).

    Call it before `app.server()` / `app.run_server()`: a server keeps the state filters it
    was made with, so one made earlier would not count finished jobs and retries. The
    default registry is a new one per App; pass `prometheus_client.REGISTRY` to expose the
    metrics with the rest of your process's."""
    runtime = app.runtime
    with _lock:
        known = _instrumented.get(runtime)
        if known is not None:
            if registry is not None and registry is not known.registry:
                raise ValueError("this App is already instrumented with another registry")
            return known
        made = Instrumentation(runtime, registry or CollectorRegistry(), cache_seconds)
        runtime.observe(made.events, made.events)
        _instrumented[runtime] = made
        return made
