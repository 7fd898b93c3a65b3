"""A long run of no-op jobs: the server's memory stays flat and expiration keeps the storage
from growing with the number of jobs ever processed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

import stoker
from tests.polling import wait_for
from tests.reliability import reliability_jobs as jobs
from tests.reliability.servers import custom_server
from tests.reliability.support import FULL, Figures, rss_mb, size, storage_kind

JOBS = size(10_000, 1_000_000)
BATCH = 1_000
BACKLOG = 5_000  # the producer keeps at most this many jobs waiting
RETENTION = 1.0  # seconds a Succeeded job is kept
# Growth allowed between the warmed-up server and the end. A leak of 100 bytes per job would
# be 95 MB over the full run (and 1 MB in the default one, so the full run is the real test).
MAX_GROWTH_MB = 30.0 if FULL else 20.0
LIMIT = 3_600 if FULL else 150

pytestmark = [pytest.mark.slow, pytest.mark.timeout(LIMIT + 60)]


def _storage_size(url: str) -> str:
    """What the storage holds, in its own unit: bytes on disk (SQLite), bytes of the schema's
    tables and indexes (PostgreSQL), keys under the prefix (Redis)."""
    kind = storage_kind(url)
    query = dict(parse_qsl(urlsplit(url).query))
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        total = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
        return f"{total / 1e6:.1f} MB"
    if kind == "postgres":
        import psycopg

        sql = (
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'"
        )
        with psycopg.connect(url.partition("?")[0]) as conn:
            row = conn.execute(sql, (query["schema"],)).fetchone()
        assert row is not None
        return f"{int(row[0]) / 1e6:.1f} MB"
    import redis

    client = redis.Redis.from_url(url.partition("?")[0])
    keys = sum(1 for _ in client.scan_iter(match=f"{query['prefix']}:*", count=5000))
    client.close()
    return f"{keys} keys"


def _stored(app: stoker.App) -> int:
    return sum(app.storage.count_by_state().values())


def _succeeded(app: stoker.App) -> int:
    # Succeeded jobs expire after a second; the statistics counter remembers them all.
    return app.storage.get_counters(["stats:succeeded"])["stats:succeeded"]


def test_a_long_run_keeps_memory_flat_and_storage_bounded(
    storage_url: str, tmp_path: Path, figures: Figures
) -> None:
    app = stoker.App(storage_url)
    options = {"workers": 4, "poll_interval": 0.2, "expiration_interval": 1.0}
    server = custom_server(storage_url, tmp_path, options, retention_succeeded=RETENTION)
    enqueued = max_stored = 0
    rss: dict[str, float] = {}
    sizes: dict[str, str] = {}
    began = time.monotonic()
    try:
        wait_for(lambda: app.storage.list_servers(), 30, "the server to start")
        rss["start"] = rss_mb(server.pid)
        while (done := _succeeded(app)) < JOBS:
            assert time.monotonic() - began < LIMIT, f"only {done} of {JOBS} jobs after {LIMIT} s"
            assert server.alive()
            stored = _stored(app)
            max_stored = max(max_stored, stored)
            waiting = enqueued - done
            while enqueued < JOBS and waiting < BACKLOG:
                count = min(BATCH, JOBS - enqueued)
                app.enqueue_many(jobs.noop, [()] * count)
                enqueued += count
                waiting += count
            if "warm" not in rss and done >= JOBS // 10:
                rss["warm"] = rss_mb(server.pid)  # pools, caches and imports are all in place
                sizes["warm"] = _storage_size(storage_url)
            time.sleep(0.2)
        took = time.monotonic() - began
        rss["end"] = rss_mb(server.pid)
        sizes["end"] = _storage_size(storage_url)
        # Expiration removes every Succeeded job soon after its retention.
        wait_for(lambda: _stored(app) == 0, 30, "expiration to empty the storage")
        sizes["expired"] = _storage_size(storage_url)
    finally:
        assert server.stop() == 0
    counts = app.storage.count_by_state()
    assert (counts["Failed"], counts["Processing"]) == (0, 0)
    growth = rss["end"] - rss["warm"]
    assert growth < MAX_GROWTH_MB, rss
    # Bounded by the backlog plus a few seconds of throughput, not by the number of jobs.
    assert max_stored < BACKLOG + 10_000
    figures.add(
        "long run",
        storage_kind(storage_url),
        jobs=JOBS,
        seconds=round(took, 1),
        jobs_per_s=round(JOBS / took),
        rss_start_mb=round(rss["start"], 1),
        rss_warm_mb=round(rss["warm"], 1),
        rss_end_mb=round(rss["end"], 1),
        max_jobs_stored=max_stored,
        storage_warm=sizes["warm"],
        storage_end=sizes["end"],
        storage_after_expiry=sizes["expired"],
    )
    app.close()
