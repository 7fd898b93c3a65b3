"""RedisStorage against a private redis-server that the tests stop and restart, so that the
shared Redis is never disturbed: reconnecting after a restart, one log line per outage, what a
Redis without persistence loses, and which commands the storage sends."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from stoker.core.records import (
    CounterIncrement,
    LogLine,
    NewJob,
    RecurringRecord,
    ServerRecord,
    StateChange,
    StateRecord,
)
from stoker.storage import open_storage
from stoker.storage.redis import RedisStorage
from tests.conftest import IN_CI

T0 = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "pa55-word-never-logged"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_job(queue: str = "default") -> NewJob:
    return NewJob("app.tasks:work", "[]", "{}", queue, StateRecord("Enqueued", T0), T0)


class PrivateRedis:
    """A redis-server on a free port in a temporary directory, with or without an AOF."""

    def __init__(self, directory: Path, persistent: bool) -> None:
        self.directory = directory
        self.persistent = persistent
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0?prefix=private"

    def start(self) -> None:
        # Without --appendonly (and with --save '') a restart starts from an empty dataset.
        persistence = ["--appendonly", "yes", "--appendfsync", "always"]
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--dir", str(self.directory), "--requirepass", PASSWORD]
        command += persistence if self.persistent else ["--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, password=PASSWORD)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            except redis.BusyLoadingError:
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=PASSWORD, decode_responses=True)


def _private(tmp_path: Path, persistent: bool) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed"
        if IN_CI:
            pytest.fail(message + " (CI=true: it is required)")
        pytest.skip(message)
    server = PrivateRedis(tmp_path, persistent)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    yield from _private(tmp_path, persistent=True)


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    yield from _private(tmp_path, persistent=False)


def _restart_later(server: PrivateRedis, delay: float) -> threading.Thread:
    server.stop()

    def start_again() -> None:
        time.sleep(delay)
        server.start()

    thread = threading.Thread(target=start_again)
    thread.start()
    return thread


def test_calls_during_a_restart_wait_for_redis_and_log_the_outage_once(
    aof_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    storage = open_storage(aof_redis.url, retries=40)
    try:
        first = storage.create_jobs([new_job(), new_job()])
        caplog.set_level(logging.INFO, logger="stoker.storage.redis")
        restarted = _restart_later(aof_redis, 0.5)
        # Called while Redis is down: retried with back-off until it is back.
        assert storage.count_by_state()["Enqueued"] == 2
        restarted.join()
        second = storage.create_jobs([new_job()])
        claimed = [storage.fetch_next(["default"], "s", f"w{n}", at(1)) for n in range(3)]
        assert [job.id for job in claimed if job] == first + second
    finally:
        storage.close()
    messages = [record.getMessage() for record in caplog.records]
    assert sum("unreachable" in message for message in messages) == 1
    assert sum("reachable again" in message for message in messages) == 1
    assert not any(PASSWORD in message for message in messages)


def test_work_in_progress_survives_a_restart_with_an_append_only_file(
    aof_redis: PrivateRedis,
) -> None:
    storage = open_storage(aof_redis.url, retries=40)
    created: list[str] = []
    finished: list[str] = []
    stop_producing, produced_all = threading.Event(), threading.Event()

    def produce() -> None:
        while not stop_producing.is_set():
            created.extend(storage.create_jobs([new_job()]))

    def work() -> None:
        while not produced_all.is_set() or len(finished) < len(created):
            job = storage.fetch_next(["default"], "s", "w", at(1))
            if job is None:
                storage.wait_for_jobs(["default"], 0.05)
                continue
            done = StateRecord("Succeeded", at(2), None, {"result": None})
            change = StateChange(job.id, done, ("Processing",), job.state_id)
            assert storage.change_state(change)
            finished.append(job.id)

    producer, worker = threading.Thread(target=produce), threading.Thread(target=work)
    producer.start()
    worker.start()
    try:
        time.sleep(0.3)
        _restart_later(aof_redis, 0.3).join()
        time.sleep(0.3)
    finally:
        stop_producing.set()
        producer.join(30)
        produced_all.set()  # only now may the worker stop once it has finished every job
        worker.join(30)
    counts = storage.count_by_state()
    storage.close()
    assert len(created) > 10
    assert sorted(finished, key=int) == sorted(created, key=int)  # each exactly once
    assert (counts["Succeeded"], counts["Enqueued"], counts["Processing"]) == (len(created), 0, 0)


def test_a_restart_without_persistence_loses_everything_but_the_storage_recovers(
    volatile_redis: PrivateRedis,
) -> None:
    # What a Redis without persistence loses on restart: every job with its history, queues,
    # schedules, recurring definitions, counters and server registrations. Servers notice
    # through heartbeat() returning False and announce themselves again; job ids start over,
    # but state ids (the fencing tokens) do not, so an old worker cannot finish a new job.
    storage = open_storage(volatile_redis.url, retries=40)
    try:
        server = ServerRecord("s1", "host", 1, 1, ("default",), T0, T0)
        storage.announce_server(server)
        (old,) = storage.create_jobs([new_job()])
        fetched = storage.fetch_next(["default"], "s1", "w", at(1))
        assert fetched is not None
        _restart_later(volatile_redis, 0.2).join()
        assert storage.job_details(old) is None
        assert storage.heartbeat("s1", at(2)) is False
        storage.announce_server(server)
        (new,) = storage.create_jobs([new_job()])
        assert new == old
        refetched = storage.fetch_next(["default"], "s1", "w", at(3))
        assert refetched is not None
        assert refetched.state_id > fetched.state_id
        stale = StateChange(old, StateRecord("Succeeded", at(4)), ("Processing",), fetched.state_id)
        assert storage.change_state(stale) is False
    finally:
        storage.close()


def test_no_command_walks_the_keyspace(volatile_redis: PrivateRedis) -> None:
    storage = open_storage(volatile_redis.url)
    assert isinstance(storage, RedisStorage)
    client = volatile_redis.client()
    client.config_resetstat()
    try:
        parent = _exercise_every_write(storage)
        _exercise_every_read(storage, parent)
        stats = client.info("commandstats")
    finally:
        storage.close()
        client.close()
    used = {name.removeprefix("cmdstat_") for name in stats}
    assert {"evalsha", "zpopmin", "hgetall"} <= used
    assert used.isdisjoint({"keys", "scan", "sscan", "hscan", "zscan"})


def _exercise_every_write(storage: RedisStorage) -> str:
    (parent,) = storage.create_jobs([new_job()])
    storage.create_jobs(
        [
            NewJob(
                "m:f",
                "[]",
                "{}",
                "default",
                StateRecord("Awaiting", T0),
                T0,
                parent_id=parent,
                on_states=("Succeeded",),
            )
        ]
    )
    storage.announce_server(ServerRecord("s1", "h", 1, 1, ("default",), T0, T0))
    job = storage.fetch_next(["default"], "s1", "w", at(1))
    assert job is not None
    storage.set_progress(job.id, 0.5)
    storage.append_log(job.id, LogLine(at(1), "line"))
    done = StateChange(
        job.id,
        StateRecord("Succeeded", at(2)),
        expire_at=at(10),
        release_continuations=True,
        counters=(CounterIncrement("c", 1, at(5)),),
    )
    storage.change_state(done)
    storage.enqueue_due_scheduled(at(3), 10)
    storage.heartbeat("s1", at(4))
    storage.remove_dead_servers(at(100))
    storage.requeue_orphaned_jobs(at(101), 10)
    storage.delete_expired(at(6), 10)
    record = RecurringRecord("r", "* * * * *", "UTC", "m:f", "[]", "{}", "default", {}, at(60), T0)
    storage.save_recurring(record)
    storage.due_recurring(at(60), 10)
    storage.fire_recurring("r", at(60), at(120), [new_job()], at(60))
    storage.set_recurring_paused("r", True, None)
    storage.record_recurring_error("r", "boom")
    storage.acquire_lock("l", "o", 10, at(1))
    storage.release_lock("l", "o")
    return parent


def _exercise_every_read(storage: RedisStorage, parent: str) -> None:
    storage.count_by_state()
    for state in ("Enqueued", "Succeeded"):
        storage.list_jobs(state, search="m:f")
        storage.list_jobs(state, queue="default")
        storage.count_jobs(state, search="1")
    storage.job_details(parent)
    storage.job_states([parent, "2"])
    storage.list_servers()
    storage.processing_counts()
    storage.queue_lengths()
    storage.list_recurring()
    storage.get_counters(["c"])
    storage.remove_recurring("r")
    storage.remove_server("s1")
