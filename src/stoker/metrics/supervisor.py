"""The metrics of `stoker server --processes N`: the supervisor adds up its children's figures."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from stoker.metrics.instrument import MULTIPROC_ENV


@contextmanager
def aggregated_metrics(port: int, address: str) -> Iterator[str]:
    """Serve `/metrics` on `address:port` adding up the figures that the server processes
    started inside the block write to a new directory (prometheus_client's multiprocess
    mode, told to them by PROMETHEUS_MULTIPROC_DIR); the directory goes with the block.

    Loads no App, client or storage: the children publish the storage's gauges themselves
    (stoker.metrics.SnapshotPublisher), so this process stays as small as it was."""
    directory = tempfile.mkdtemp(prefix="stoker-metrics-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = directory  # inherited by every child started from here on
    try:
        registry = CollectorRegistry()
        # prometheus_client leaves this constructor unannotated.
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        server, _thread = start_http_server(port, address, registry)
        try:
            yield directory
        finally:
            server.shutdown()
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)
