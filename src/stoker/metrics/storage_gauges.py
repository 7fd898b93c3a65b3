"""Gauges read from the storage's Monitor: jobs per state, queue lengths, servers, busy workers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stoker.core.protocols import Monitor
from stoker.core.states import STATE_NAMES

log = logging.getLogger("stoker.metrics")

# (name, help, label) of each gauge; a label of "" means the gauge has none.
GAUGES = (
    ("stoker_jobs", "Jobs in the storage, by state.", "state"),
    ("stoker_queue_length", "Enqueued jobs waiting on each queue.", "queue"),
    ("stoker_servers", "Servers registered in the storage.", ""),
    ("stoker_workers", "Worker threads of the registered servers.", ""),
    ("stoker_busy_workers", "Jobs in Processing on the registered servers.", ""),
)


@dataclass(frozen=True)
class StorageSnapshot:
    """One reading of the storage's counts, as {gauge name: {label value: number}}."""

    values: dict[str, dict[str, float]]


def read_snapshot(monitor: Monitor) -> StorageSnapshot:
    """Four cheap Monitor calls: counts by state, queue lengths, servers, processing counts."""
    by_state = monitor.count_by_state()
    servers = monitor.list_servers()
    # Queues a live server listens on are shown even when empty, as the dashboard does.
    queues = dict.fromkeys((queue for server in servers for queue in server.queues), 0)
    queues.update(monitor.queue_lengths())
    processing = monitor.processing_counts()
    return StorageSnapshot(
        {
            "stoker_jobs": {state: by_state.get(state, 0) for state in STATE_NAMES},
            "stoker_queue_length": {queue: float(count) for queue, count in queues.items()},
            "stoker_servers": {"": len(servers)},
            "stoker_workers": {"": sum(server.workers for server in servers)},
            "stoker_busy_workers": {"": sum(processing.get(server.id, 0) for server in servers)},
        }
    )


class CachedSnapshot:
    """The latest snapshot, read again only once it is `max_age` seconds old: a burst of
    scrapes (or several Prometheus servers) costs the storage one reading per `max_age`."""

    def __init__(
        self,
        monitor: Monitor,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_age >= 0:
            raise ValueError(f"max_age must be a number of seconds >= 0, got {max_age!r}")
        self.monitor = monitor
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()  # concurrent scrapes wait for one reading, not one each
        self._latest: tuple[float, StorageSnapshot] | None = None

    def get(self) -> StorageSnapshot:
        with self._lock:
            now = self._clock()
            if self._latest is None or now - self._latest[0] >= self.max_age:
                self._latest = (now, read_snapshot(self.monitor))
            return self._latest[1]


class StorageCollector(Collector):
    """A custom collector: the gauges, read (through the cache) when Prometheus scrapes."""

    def __init__(self, snapshots: CachedSnapshot) -> None:
        self.snapshots = snapshots

    def describe(self) -> Iterator[Metric]:
        for name, text, label in GAUGES:  # no storage reading when the collector is registered
            yield GaugeMetricFamily(name, text, labels=[label] if label else None)

    def collect(self) -> Iterator[Metric]:
        values = self.snapshots.get().values
        for name, text, label in GAUGES:
            if not label:
                yield GaugeMetricFamily(name, text, value=values[name][""])
                continue
            family = GaugeMetricFamily(name, text, labels=[label])
            for key, value in sorted(values[name].items()):
                family.add_metric([key], value)
            yield family


class SnapshotPublisher:
    """For prometheus_client's multiprocess mode, where a custom collector is not aggregated:
    gauges whose most recent value across the processes wins, set from a fresh snapshot
    every `interval` seconds by a daemon thread until `stop()`. In multiprocess mode the
    values go to files whatever `registry` says; outside it, they are exposed by `registry`."""

    def __init__(
        self, monitor: Monitor, interval: float = 2.0, registry: CollectorRegistry | None = None
    ) -> None:
        self.monitor = monitor
        self.interval = interval
        self._gauges = {
            name: Gauge(
                name,
                text,
                [label] if label else [],
                multiprocess_mode="mostrecent",
                registry=registry,
            )
            for name, text, label in GAUGES
        }
        self._seen: dict[str, set[str]] = {name: set() for name, _, _ in GAUGES}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stoker-metrics", daemon=True)

    def start(self) -> SnapshotPublisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def publish(self, snapshot: StorageSnapshot) -> None:
        for name, values in snapshot.values.items():
            gauge = self._gauges[name]
            if "" in values:
                gauge.set(values[""])
                continue
            # A queue that vanished reads 0: in multiprocess mode a series cannot be removed.
            for key in self._seen[name] - values.keys():
                gauge.labels(key).set(0)
            for key, value in values.items():
                gauge.labels(key).set(value)
            self._seen[name] |= values.keys()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish(read_snapshot(self.monitor))
            except Exception as exc:  # the storage is down: the gauges keep their last values
                log.debug("could not read the storage's counts for metrics: %s", exc)
            self._stop.wait(self.interval)
