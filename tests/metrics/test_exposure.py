"""What guards and shapes /metrics: the dashboard's authorization, the cache, one set per App."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

import stoker
from stoker.core.protocols import Storage
from stoker.metrics import CachedSnapshot, instrument
from stoker.metrics.storage_gauges import SnapshotPublisher, read_snapshot
from tests.metrics import metrics_jobs
from tests.metrics.helpers import parse, value

warnings.filterwarnings("ignore", message=r".*httpx.*starlette\.testclient", category=Warning)
from starlette.testclient import TestClient  # noqa: E402

LOCAL = ("127.0.0.1", 5)
OK = "tests.metrics.metrics_jobs:ok"


class CountingMonitor:
    """A real storage whose count_by_state calls are counted."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.readings = 0

    def count_by_state(self) -> dict[str, int]:
        self.readings += 1
        return self.storage.count_by_state()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


def test_the_storage_is_read_once_per_max_age_however_often_it_is_scraped(
    app: stoker.App,
) -> None:
    monitor = CountingMonitor(app.storage)
    now = [100.0]
    cache = CachedSnapshot(monitor, max_age=2.0, clock=lambda: now[0])
    app.enqueue(metrics_jobs.ok, 1)
    assert cache.get().values["stoker_jobs"]["Enqueued"] == 1
    app.enqueue(metrics_jobs.ok, 2)
    for _ in range(50):
        assert cache.get().values["stoker_jobs"]["Enqueued"] == 1  # cached
    now[0] += 2.0
    assert cache.get().values["stoker_jobs"]["Enqueued"] == 2
    assert monitor.readings == 2


def test_a_bad_max_age_is_refused(app: stoker.App) -> None:
    with pytest.raises(ValueError, match="max_age"):
        CachedSnapshot(app.storage, max_age=float("nan"))


def test_metrics_follow_the_dashboard_authorization(app: stoker.App) -> None:
    remote = TestClient(app.dashboard(), base_url="http://127.0.0.1", client=("203.0.113.9", 5))
    assert remote.get("/metrics").status_code == 403
    guarded = app.dashboard(basic_auth=("ops", "correct-horse"), allowed_hosts=["*"])
    client = TestClient(guarded, base_url="http://jobs.example.com", client=("203.0.113.9", 5))
    assert client.get("/metrics").status_code == 401
    reply = client.get("/metrics", auth=("ops", "correct-horse"))
    assert reply.status_code == 200
    assert value(parse(reply.text), "stoker_servers") == 0


def test_without_prometheus_client_the_dashboard_says_what_to_install(
    app: stoker.App, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in sys.modules if name.startswith("stoker.metrics")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    dashboard = TestClient(app.dashboard(), base_url="http://127.0.0.1", client=LOCAL)
    reply = dashboard.get("/metrics")
    assert reply.status_code == 404
    assert "stoker[metrics]" in reply.text


def test_an_app_is_instrumented_once(app: stoker.App) -> None:
    first = instrument(app)
    assert instrument(app) is first
    assert instrument(app, registry=first.registry) is first
    with pytest.raises(ValueError, match="another registry"):
        instrument(app, registry=CollectorRegistry())
    filters = [each for each in app.state_machine.filters if each is first.events]
    assert len(filters) == 1
    assert app.runtime.observers == (first.events,)


def test_the_metrics_can_join_an_applications_registry(app: stoker.App) -> None:
    registry = CollectorRegistry()
    Counter("myapp_signups", "Sign-ups.", registry=registry).inc()
    metrics = instrument(app, registry=registry)
    app.enqueue(metrics_jobs.ok, 1)
    samples = parse(generate_latest(registry).decode())
    assert value(samples, "myapp_signups_total") == 1
    assert value(samples, "stoker_jobs_created_total", function=OK, queue="default") == 1
    assert metrics.exposition() == generate_latest(registry)


def test_the_published_gauges_follow_the_storage_and_zero_a_vanished_queue(
    app: stoker.App,
) -> None:
    registry = CollectorRegistry()
    publisher = SnapshotPublisher(app.storage, registry=registry)
    job_id = app.with_options(queue="mail").enqueue(metrics_jobs.ok, 1)
    publisher.publish(read_snapshot(app.storage))
    samples = parse(generate_latest(registry).decode())
    assert value(samples, "stoker_queue_length", queue="mail") == 1
    app.delete(job_id)
    publisher.publish(read_snapshot(app.storage))
    samples = parse(generate_latest(registry).decode())
    assert value(samples, "stoker_queue_length", queue="mail") == 0
    assert value(samples, "stoker_jobs", state="Deleted") == 1
