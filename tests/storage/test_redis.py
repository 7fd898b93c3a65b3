"""Redis-specific behaviour of RedisStorage: atomic claims across processes, key prefixes,
blocking wake-up, retry-safe scripts, crash recovery and expiry, against the shared Redis."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest
import redis

from stoker.core.errors import StorageURLError
from stoker.core.records import (
    CounterIncrement,
    LogLine,
    NewJob,
    ServerRecord,
    StateChange,
    StateRecord,
)
from stoker.storage import open_storage
from stoker.storage.redis import RedisStorage

T0 = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_job(queue: str = "default", when: datetime = T0, args: str = "[]") -> NewJob:
    state = StateRecord("Enqueued", when, None, {"queue": queue})
    return NewJob("app.tasks:work", args, "{}", queue, state, when)


def server(server_id: str, heartbeat: datetime = T0) -> ServerRecord:
    return ServerRecord(server_id, "host", os.getpid(), 2, ("default",), T0, heartbeat)


@pytest.fixture
def storage(redis_url: str) -> Iterator[RedisStorage]:
    opened = open_storage(redis_url)
    assert isinstance(opened, RedisStorage)
    yield opened
    opened.close()


def _drain_in_process(url: str, worker: str, claimed: multiprocessing.Queue[str]) -> None:
    """Child process: claim jobs until the queue is empty, reporting each id."""
    storage = open_storage(url)
    while (job := storage.fetch_next(["default"], "server-mp", worker, at(1))) is not None:
        claimed.put(job.id)
    claimed.put("done")
    storage.close()


def test_processes_fetching_at_once_claim_each_job_exactly_once(
    storage: RedisStorage, redis_url: str
) -> None:
    ids = storage.create_jobs([new_job(args=f"[{n}]") for n in range(300)])
    context = multiprocessing.get_context("spawn")
    claimed: multiprocessing.Queue[str] = context.Queue()
    workers = [
        context.Process(target=_drain_in_process, args=(redis_url, f"w{n}", claimed))
        for n in range(3)
    ]
    for process in workers:
        process.start()
    results: list[str] = []
    finished = 0
    while finished < len(workers):
        item = claimed.get(timeout=60)
        if item == "done":
            finished += 1
        else:
            results.append(item)
    for process in workers:
        process.join(10)
        assert process.exitcode == 0
    counts = Counter(results)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    assert storage.count_by_state()["Processing"] == 300
    assert storage.processing_counts() == {"server-mp": 300}


def test_jobs_entering_a_state_in_the_same_microsecond_keep_creation_order(
    storage: RedisStorage,
) -> None:
    # Index members are length-prefixed ids: "10" must not sort before "9".
    ids = storage.create_jobs([new_job() for _ in range(25)])
    assert [job.id for job in storage.list_jobs("Enqueued", limit=100, newest_first=False)] == ids
    assert [job.id for job in storage.list_jobs("Enqueued", limit=5)] == ids[::-1][:5]
    claimed = [storage.fetch_next(["default"], "s", "w", at(1)) for _ in ids]
    assert [job.id for job in claimed if job is not None] == ids


def test_prefixes_isolate_storages_on_one_redis(storage: RedisStorage, redis_url: str) -> None:
    other = open_storage(redis_url.replace("?prefix=", "?prefix=other-"))
    try:
        (job_id,) = storage.create_jobs([new_job()])
        storage.announce_server(server("s1"))
        assert other.job_details(job_id) is None
        assert other.count_by_state()["Enqueued"] == 0
        assert other.fetch_next(["default"], "s2", "w", at(1)) is None
        assert other.list_servers() == []
        assert storage.fetch_next(["default"], "s1", "w", at(1)) is not None
    finally:
        other.close()
    prefix = redis_url.split("prefix=")[1]
    client = redis.Redis.from_url(redis_url.split("?")[0])
    other_keys = list(client.scan_iter(match=f"other-{prefix}:*"))
    client.close()
    assert other_keys == []  # reading and fetching wrote nothing under the other prefix


def test_from_url_reads_prefix_and_keeps_the_password_out_of_errors() -> None:
    opened = RedisStorage.from_url("rediss://user:s3cret@cache.invalid:6380/2?prefix=app1")
    kwargs = opened._r.connection_pool.connection_kwargs
    assert (opened._p, kwargs["host"], kwargs["port"], kwargs["db"]) == (
        "app1",
        "cache.invalid",
        6380,
        2,
    )
    assert "SSL" in opened._r.connection_pool.connection_class.__name__
    assert RedisStorage.from_url("redis://127.0.0.1:6379/0")._p == "stoker"
    with pytest.raises(StorageURLError) as error:
        RedisStorage.from_url("redis://user:s3cret@localhost/0?prefix=bad*prefix")
    assert "s3cret" not in str(error.value)
    assert "***" in str(error.value)


def test_an_idle_waiter_wakes_within_milliseconds_of_an_enqueue(storage: RedisStorage) -> None:
    latencies: list[float] = []
    created_at: list[float] = []
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            storage.wait_for_jobs(["latency"], 2.0)
            while storage.fetch_next(["latency"], "s", "w", at(1)) is not None:
                latencies.append(time.perf_counter() - created_at[-1])

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        for _ in range(15):
            time.sleep(0.02)  # let the worker block in BLPOP again: that is what we measure
            created_at.append(time.perf_counter())
            storage.create_jobs([new_job("latency")])
        deadline = time.monotonic() + 5
        while len(latencies) < 15 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        storage.create_jobs([new_job("latency")])  # wakes the worker so it can stop
        thread.join(5)
    assert len(latencies) >= 15
    # Typically well under 2 ms here; the bound is loose so a busy CI machine does not flake.
    assert sorted(latencies)[len(latencies) // 2] < 0.05


def test_wait_for_jobs_returns_at_once_when_a_token_is_pending(storage: RedisStorage) -> None:
    storage.create_jobs([new_job("mail")])
    started = time.monotonic()
    storage.wait_for_jobs(["default", "mail"], 5.0)
    assert time.monotonic() - started < 1.0
    storage.wait_for_jobs(["default"], 0)  # zero (BLPOP's "forever") returns at once


def test_a_retried_create_returns_the_jobs_it_already_created(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sent again with the same token (its reply was lost): the jobs exist once.
    monkeypatch.setattr(storage, "_token", lambda: "create-token")
    ids = storage.create_jobs([new_job(), new_job()])
    assert storage.create_jobs([new_job(), new_job()]) == ids
    assert storage.count_by_state()["Enqueued"] == 2
    monkeypatch.setattr(storage, "_token", lambda: "next-token")
    assert storage.create_jobs([new_job()]) not in ([ids[0]], [ids[1]])
    assert storage.count_by_state()["Enqueued"] == 3


def test_a_retried_fetch_returns_the_job_it_already_claimed(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection lost after the script ran makes redis-py send it again with the same token.
    first, second = storage.create_jobs([new_job(), new_job()])
    monkeypatch.setattr(storage, "_token", lambda: "same-token")
    claimed = storage.fetch_next(["default"], "s1", "w1", at(1))
    again = storage.fetch_next(["default"], "s1", "w1", at(1))
    assert claimed is not None
    assert again is not None
    assert (claimed.id, again.id, again.state_id) == (first, first, claimed.state_id)
    assert storage.job_states([second])[second][0] == "Enqueued"
    details = storage.job_details(first)
    assert details is not None
    assert [h.name for h in details.history] == ["Enqueued", "Processing"]


def test_a_retried_change_reports_success_once_applied(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    (job_id,) = storage.create_jobs([new_job()])
    fetched = storage.fetch_next(["default"], "s1", "w1", at(1))
    assert fetched is not None
    monkeypatch.setattr(storage, "_token", lambda: "change-token")
    done = StateChange(
        job_id,
        StateRecord("Succeeded", at(2), None, {"result": None}),
        expected_states=("Processing",),
        expected_state_id=fetched.state_id,
        counters=(CounterIncrement("stats:succeeded"),),
    )
    assert storage.change_state(done)
    assert storage.change_state(done)
    details = storage.job_details(job_id)
    assert details is not None
    assert [h.name for h in details.history] == ["Enqueued", "Processing", "Succeeded"]
    assert storage.get_counters(["stats:succeeded"]) == {"stats:succeeded": 1}


def _claim_then_die(url: str) -> None:
    """Child process: a server that claims two jobs and is killed -9 before finishing them."""
    storage = open_storage(url)
    storage.announce_server(server("doomed"))
    for worker in ("w1", "w2"):
        storage.fetch_next(["default"], "doomed", worker, at(1))
    os.kill(os.getpid(), signal.SIGKILL)


def test_jobs_of_a_server_killed_mid_job_are_requeued_not_lost(
    storage: RedisStorage, redis_url: str
) -> None:
    ids = storage.create_jobs([new_job() for _ in range(3)])
    storage.announce_server(server("survivor", at(100)))
    process = multiprocessing.get_context("spawn").Process(
        target=_claim_then_die, args=(redis_url,)
    )
    process.start()
    process.join(30)
    assert process.exitcode == -signal.SIGKILL
    assert storage.processing_counts() == {"doomed": 2}
    assert storage.requeue_orphaned_jobs(at(50), 10) == []  # "doomed" is still registered
    assert storage.remove_dead_servers(at(60)) == ["doomed"]
    requeued = storage.requeue_orphaned_jobs(at(61), 10)
    assert sorted(requeued, key=int) == ids[:2]
    assert storage.processing_counts() == {}
    for job_id in requeued:
        details = storage.job_details(job_id)
        assert details is not None
        assert details.job.params["crashes"] == 1
        assert details.history[-1].name == "Enqueued"
        assert "doomed" in (details.history[-1].reason or "")
    claimed = [storage.fetch_next(["default"], "survivor", "w", at(62)) for _ in range(4)]
    assert sorted((job.id for job in claimed if job), key=int) == ids


def test_delete_expired_removes_every_key_of_the_job(storage: RedisStorage, redis_url: str) -> None:
    parent, child = storage.create_jobs([new_job(), new_job()])
    storage.append_log(parent, LogLine(at(1), "hello"))
    expired = StateChange(parent, StateRecord("Deleted", at(2)), expire_at=at(10))
    assert storage.change_state(expired)
    assert storage.delete_expired(at(9), 10) == 0
    assert storage.delete_expired(at(10), 10) == 1
    client = redis.Redis.from_url(redis_url.split("?")[0])
    key = f"{storage._p}:job:{parent}"
    left = client.exists(key, f"{key}:history", f"{key}:logs", f"{key}:params")
    scores = client.zscore(f"{storage._p}:expiry", f"A{parent}")
    client.close()
    assert (left, scores) == (0, None)
    assert storage.count_by_state()["Deleted"] == 0
    assert storage.job_details(child) is not None
    storage.set_progress(parent, 0.5)  # never resurrects a removed job
    storage.append_log(parent, LogLine(at(11), "late"))
    assert storage.job_details(parent) is None


def test_counters_expire_on_the_callers_clock(storage: RedisStorage) -> None:
    (job_id,) = storage.create_jobs([new_job()])
    hourly = CounterIncrement("stats:succeeded:hour", 2, at(3600))
    total = CounterIncrement("stats:succeeded", 2)
    change = StateChange(job_id, StateRecord("Succeeded", at(1)), counters=(hourly, total))
    assert storage.change_state(change)
    keys = ["stats:succeeded:hour", "stats:succeeded"]
    assert storage.get_counters(keys) == {"stats:succeeded:hour": 2, "stats:succeeded": 2}
    storage.delete_expired(at(3599), 100)
    assert storage.get_counters(keys)["stats:succeeded:hour"] == 2
    storage.delete_expired(at(3600), 100)
    assert storage.get_counters(keys) == {"stats:succeeded:hour": 0, "stats:succeeded": 2}


def test_the_module_never_scans_the_keyspace() -> None:
    # Counting and paging read per-state sorted sets; KEYS/SCAN would be O(all keys).
    folder = resources.files("stoker.storage.redis.lua")
    sources = [Path(str(folder / name)).read_text("utf-8") for name in _lua_files()]
    storage_dir = Path(str(resources.files("stoker.storage")))
    sources += [path.read_text("utf-8") for path in storage_dir.glob("redis*.py")]
    pattern = re.compile(r"['\"](KEYS|SCAN)['\"]|\.keys\(|scan_iter|\.scan\(", re.IGNORECASE)
    offenders = [m.group(0) for text in sources for m in pattern.finditer(text)]
    assert offenders == []


def _lua_files() -> list[str]:
    folder = resources.files("stoker.storage.redis.lua")
    return [entry.name for entry in folder.iterdir() if entry.name.endswith(".lua")]


# --- batched steps -------------------------------------------------------------------------


def test_a_step_that_fails_in_a_batch_fails_alone(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stoker.core.states import Succeeded
    from stoker.storage.common.worker_steps import Step
    from stoker.storage.redis import batch as redis_batch

    storage.create_jobs([new_job(args=f"[{n}]") for n in range(4)])
    first, second = (storage.fetch_next(["default"], "srv", f"w{n}", T0) for n in (1, 2))
    assert first is not None
    assert second is not None
    real_change_args = redis_batch.change_args

    def broken_for_the_first(change: StateChange, token: str) -> list[str]:
        args = real_change_args(change, token)
        return args[:-3] if change.job_id == first.id else args  # a counter triple cut short

    monkeypatch.setattr(redis_batch, "change_args", broken_for_the_first)
    done = Succeeded(result=None, latency_ms=0, duration_ms=0).to_record(T0)
    counter = (CounterIncrement("stats:succeeded"),)
    steps = [
        Step(worker, T0, StateChange(job.id, done, ("Processing",), job.state_id, counters=counter))
        for worker, job in (("w1", first), ("w2", second))
    ]
    steps.append(Step("w3", T0))
    results = storage._run_steps(("default",), "srv", steps)
    assert isinstance(results[0], redis.ResponseError)
    assert results[1][0] is True  # type: ignore[index]
    assert results[1][1] is not None  # type: ignore[index]
    assert results[2][1] is not None  # type: ignore[index]  # every claim reached its worker
    assert storage.job_states([second.id])[second.id][0] == "Succeeded"
    assert storage.count_jobs("Processing") >= 2  # w3's claim, and w2's next job


def test_the_processing_entry_shortcut_encodes_exactly_like_state_entry() -> None:
    from stoker.core.states import processing_state
    from stoker.storage.redis.batch import _processing_entry
    from stoker.storage.redis.codec import state_entry, to_us

    for server, worker in [("srv-1", "worker-3"), ('we"ird\\', "wö\u2028")]:
        expected = state_entry(processing_state(server, worker).to_record(T0))
        assert _processing_entry(server, worker, to_us(T0)) == expected


def test_scripts_are_reloaded_after_a_script_flush(storage: RedisStorage) -> None:
    from stoker.storage.common.worker_steps import Step

    storage._r.script_flush()  # what a Redis restart does to loaded scripts
    storage.create_jobs([new_job(args=f"[{n}]") for n in range(4)])
    storage._r.script_flush()
    assert storage.heartbeat("nobody", T0) is False
    storage._r.script_flush()
    assert storage.fetch_next(["default"], "srv", "w1", T0) is not None
    storage._r.script_flush()
    results = storage._run_steps(("default",), "srv", [Step("w2", T0), Step("w3", T0)])
    assert all(job is not None for _, job in results)  # type: ignore[misc]


def test_a_keyed_create_resent_after_a_lost_reply_returns_the_first_answer(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The resend carries the first call's token: it must not make a second job even though
    # the unique key's job has ended in between (a new create would make one).
    from dataclasses import replace

    from stoker.core.records import StateChange
    from stoker.core.states import Succeeded
    from stoker.testing.contract import at, make_job

    monkeypatch.setattr(storage, "_token", lambda: "same-token")
    job = replace(make_job(), unique_key="resent")
    (first,) = storage.create_jobs([job])
    assert storage.change_state(StateChange(first, Succeeded().to_record(at(1))))
    assert storage.create_jobs([job]) == [first]  # the resend: the slot answers
    monkeypatch.setattr(storage, "_token", lambda: "next-token")
    (second,) = storage.create_jobs([job])  # a new call: the key's job ended, a new one
    assert second != first
