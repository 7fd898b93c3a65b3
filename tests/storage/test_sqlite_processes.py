"""Several processes on one SQLite file: no "database is locked", each job claimed once, one
migration when they all open a new file at the same moment."""

from __future__ import annotations

import logging
import multiprocessing
import os
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stoker.core.protocols import Storage
from stoker.core.records import StateChange
from stoker.core.states import Succeeded
from stoker.storage import open_storage
from stoker.storage.sqlite import schema
from stoker.testing.contract_support import at, make_job

pytestmark = pytest.mark.slow

PROCESSES = 3
THREADS = 2
JOBS_PER_THREAD = 150
CONTEXT = multiprocessing.get_context("spawn")


def _work(storage: Storage, jobs: int, server: str, worker: str) -> tuple[list[str], list[str]]:
    """Create a job, claim one, finish it; then drain the queue. (created, claimed) ids."""
    created: list[str] = []
    claimed: list[str] = []

    def finish_next(step: int) -> bool:
        job = storage.fetch_next(["default"], server, worker, at(step))
        if job is None:
            return False
        claimed.append(job.id)
        done = StateChange(
            job.id,
            Succeeded().to_record(at(step)),
            expected_states=("Processing",),
            expected_state_id=job.state_id,
        )
        assert storage.change_state(done)
        return True

    for step in range(jobs):
        created.extend(storage.create_jobs([make_job(args=[server, worker, step])]))
        finish_next(step)
    while finish_next(jobs):
        pass
    return created, claimed


def _hammer(url: str, file_lock: bool, start: Any, results: Any) -> None:
    """A child process: THREADS threads creating and claiming jobs on `url`."""
    if not file_lock:
        from stoker.storage.sqlite import lock as sqlite_lock

        sqlite_lock.fcntl = None  # type: ignore[attr-defined,assignment]  # SQLite lock only
    outcome: dict[str, Any] = {"created": [], "claimed": [], "errors": []}
    storage = open_storage(url)
    lock = threading.Lock()

    def thread(number: int) -> None:
        try:
            created, claimed = _work(storage, JOBS_PER_THREAD, f"s{os.getpid()}", f"w{number}")
        except BaseException as exc:  # reported to the parent, which fails the test
            with lock:
                outcome["errors"].append(repr(exc))
            return
        with lock:
            outcome["created"] += created
            outcome["claimed"] += claimed

    start.wait()
    threads = [threading.Thread(target=thread, args=(n,)) for n in range(THREADS)]
    for each in threads:
        each.start()
    for each in threads:
        each.join()
    storage.close()
    results.put(outcome)


@pytest.mark.parametrize("file_lock", [True, False], ids=["file-lock", "sqlite-lock-only"])
def test_processes_hammering_one_file_claim_each_job_exactly_once(
    tmp_path: Path, file_lock: bool
) -> None:
    # A tiny busy_timeout makes SQLite answer "database is locked" often: the storage must
    # retry, never pass it on.
    url = f"sqlite:///{tmp_path}/shared.db?busy_timeout=5"
    open_storage(url).close()
    start = CONTEXT.Event()
    results = CONTEXT.Queue()
    children = [
        CONTEXT.Process(target=_hammer, args=(url, file_lock, start, results))
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    assert [error for outcome in outcomes for error in outcome["errors"]] == []
    created = [job_id for outcome in outcomes for job_id in outcome["created"]]
    claimed = Counter(job_id for outcome in outcomes for job_id in outcome["claimed"])
    assert len(created) == len(set(created)) == PROCESSES * THREADS * JOBS_PER_THREAD
    assert set(claimed) == set(created)
    assert max(claimed.values()) == 1
    storage = open_storage(url)
    try:
        counts = storage.count_by_state()
        assert (counts["Succeeded"], counts["Enqueued"], counts["Processing"]) == (
            len(created),
            0,
            0,
        )
    finally:
        storage.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _open_new_file(url: str, start: Any, results: Any) -> None:
    """A child process: open `url` at the same moment as the others; report migrations run."""
    records = _Records()
    logger = logging.getLogger("stoker.storage.sqlite")
    logger.setLevel(logging.INFO)
    logger.addHandler(records)
    start.wait()
    try:
        storage = open_storage(url)
        storage.create_jobs([make_job()])
        storage.close()
    except BaseException as exc:
        results.put(("error", repr(exc)))
        return
    applied = sum("applied schema migration" in message for message in records.messages)
    results.put(("ok", applied))


def test_processes_opening_a_new_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    url = f"sqlite:///{path}"
    start = CONTEXT.Event()
    results = CONTEXT.Queue()
    children = [
        CONTEXT.Process(target=_open_new_file, args=(url, start, results)) for _ in range(6)
    ]
    for child in children:
        child.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
    assert [kind for kind, _ in outcomes] == ["ok"] * 6, outcomes
    assert sum(applied for _, applied in outcomes) == len(schema.MIGRATIONS)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.LATEST_VERSION
        assert conn.execute("SELECT count(*) FROM job").fetchone()[0] == 6
    finally:
        conn.close()
