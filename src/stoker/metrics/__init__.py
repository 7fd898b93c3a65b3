"""Prometheus metrics for stoker (the `stoker[metrics]` extra); see docs/metrics.md."""

from __future__ import annotations

from stoker.metrics.events import JobMetrics
from stoker.metrics.instrument import Instrumentation, instrument
from stoker.metrics.storage_gauges import CachedSnapshot, SnapshotPublisher, StorageCollector

__all__ = [
    "CachedSnapshot",
    "Instrumentation",
    "JobMetrics",
    "SnapshotPublisher",
    "StorageCollector",
    "instrument",
]
