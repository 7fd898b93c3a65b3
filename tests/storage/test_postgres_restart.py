"""A private PostgreSQL restarted under a running producer and workers: nothing is lost."""

from __future__ import annotations

import functools
import glob
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import psycopg
import pytest

from stoker.core.records import NewJob, StateChange, StateRecord
from stoker.storage.postgres import PostgresStorage

IN_CI = os.environ.get("CI", "").lower() == "true"
T = TypeVar("T")
T0 = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free port, run as the `postgres` user when root."""

    def __init__(self, bin_dir: str, root: str) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = os.path.join(root, "data")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [os.path.join(self.bin_dir, args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        log = os.path.join(self.root, "server.log")
        self._run("pg_ctl", action, "-D", self.data, "-l", log, "-o", options, "-w", *extra)


def _bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if IN_CI:
            pytest.fail(message + " (CI=true: they are required)")
        pytest.skip(message)
    root = tempfile.mkdtemp(prefix="stoker-pg-")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(bin_dir, root)
    server.init()
    server.pg_ctl("start")
    try:
        yield server
    finally:
        server.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)


def _job() -> NewJob:
    state = StateRecord("Enqueued", T0, None, {"queue": "default"})
    return NewJob("app.tasks:work", "[]", "{}", "default", state, T0)


def _retry(action: Callable[[], T], stop: threading.Event) -> T:
    """What a server does around a storage call: on a database error, back off and retry."""
    while True:
        try:
            return action()
        except psycopg.Error:
            if stop.is_set():
                raise
            time.sleep(0.05)


def _worker(storage: PostgresStorage, stop: threading.Event, done: list[str]) -> None:
    while not stop.is_set():
        job = _retry(lambda: storage.fetch_next(["default"], "srv", "w", T0), stop)
        if job is None:
            storage.wait_for_jobs(["default"], 0.2)
            continue
        record = StateRecord("Succeeded", T0, None, {"result": None})
        change = StateChange(
            job.id,
            record,
            expected_states=("Processing",),
            expected_state_id=job.state_id,
            release_continuations=True,
        )
        # A finish whose reply was lost may be applied already: the fencing token makes the
        # retry a harmless False instead of a second transition.
        _retry(functools.partial(storage.change_state, change), stop)
        done.append(job.id)


def _wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.05)


def _produce(storage: PostgresStorage, stop: threading.Event, created: list[str]) -> None:
    while not stop.is_set():
        try:
            created.extend(storage.create_jobs([_job()]))
        except psycopg.Error:
            time.sleep(0.05)
        time.sleep(0.002)


def _all_finished(storage: PostgresStorage, created: list[str]) -> bool:
    counts = storage.count_by_state()
    pending = counts["Enqueued"] + counts["Processing"]
    return pending == 0 and counts["Succeeded"] >= len(created)


def test_producer_and_workers_survive_a_restart(
    private_pg: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="stoker.storage.postgres")
    # trust authentication ignores the password; it is here to prove the logs never show it
    url = private_pg.url.replace("postgres@", "postgres:secret@") + "?schema=restart"
    storage = PostgresStorage.from_url(url, pool_timeout=2.0)
    stop, finished = threading.Event(), threading.Event()
    created: list[str] = []
    done: list[str] = []
    threads = [threading.Thread(target=_produce, args=(storage, stop, created))]
    threads += [threading.Thread(target=_worker, args=(storage, finished, done)) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        _wait_until(lambda: len(done) >= 20, 10)
        private_pg.pg_ctl("restart", "-m", "fast")
        restarted_at = len(created)
        _wait_until(lambda: len(created) >= restarted_at + 20, 20)  # producing again
        stop.set()
        threads[0].join(10)
        # Nothing lost: every job ever created (even one whose reply was lost) finishes.
        _wait_until(lambda: _all_finished(storage, created), 20)
        # A worker records a job in `done` just after its commit: let them all return first.
        finished.set()
        for thread in threads:
            thread.join(10)
        assert set(created) <= set(done)
        assert len(done) == len(set(done))
        assert storage._listener.connected.wait(10)
    finally:
        stop.set()
        finished.set()
        for thread in threads:
            thread.join(10)
        storage.close()
    assert "secret" not in caplog.text
    # The outage is announced once (if a statement was cut at all), then its end.
    assert caplog.text.count("connection problem") <= 1
    assert caplog.text.count("connection problem") == caplog.text.count("connection restored")


def test_waiters_are_woken_by_notifications_after_a_restart(private_pg: PrivatePostgres) -> None:
    storage = PostgresStorage.from_url(private_pg.url + "?schema=notify")
    try:
        storage.wait_for_jobs(["default"], 0)
        assert storage._listener.connected.wait(10)
        private_pg.pg_ctl("restart", "-m", "fast")
        _wait_until(lambda: not storage._listener.connected.is_set(), 10)
        assert storage._listener.connected.wait(15)  # reconnected with back-off
        spent: list[float] = []

        def wait() -> None:
            began = time.monotonic()
            storage.wait_for_jobs(["default"], 30)
            spent.append(time.monotonic() - began)

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.1)
        storage.create_jobs([_job()])
        waiter.join(30)
        assert spent
        assert spent[0] < 5
    finally:
        storage.close()
