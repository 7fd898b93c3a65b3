"""SQLite writes: busy databases, group commit of many threads, and WAL checkpoints."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stoker.errors import StorageBusyError
from stoker.storage.sqlite import SQLiteStorage
from stoker.storage.sqlite import checkpoint as sqlite_checkpoint
from stoker.storage.sqlite.batch import WriteRequest, run_batch
from stoker.testing.contract_support import create, details, make_job


@pytest.fixture
def storage(sqlite_url: str) -> Iterator[SQLiteStorage]:
    opened = SQLiteStorage.from_url(sqlite_url)
    yield opened
    opened.close()


# --- busy database ------------------------------------------------------------------------------
def _hold_write_lock(path: str, seconds: float, started: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def test_a_write_waits_out_another_programs_lock_without_an_error(tmp_path: Path) -> None:
    opened = SQLiteStorage.from_url(f"sqlite:///{tmp_path}/busy.db?busy_timeout=20")
    try:
        started = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(opened.path, 0.4, started))
        holder.start()
        started.wait()
        began = time.monotonic()
        job_id = create(opened)  # SQLite answers busy after 20 ms, many times: retried
        waited = time.monotonic() - began
        holder.join()
        assert waited >= 0.3
        assert details(opened, job_id).job.state.name == "Enqueued"
    finally:
        opened.close()


def test_a_lock_held_longer_than_retry_timeout_raises_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/stuck.db?busy_timeout=10&retry_timeout=0.2"
    opened = SQLiteStorage.from_url(url)
    try:
        started = threading.Event()
        holder = threading.Thread(target=_hold_write_lock, args=(opened.path, 1.0, started))
        holder.start()
        started.wait()
        with pytest.raises(StorageBusyError, match="stayed locked") as raised:
            create(opened)
        assert "database is locked" not in str(raised.value)
        holder.join()
        assert create(opened)  # usable again once the lock is gone
    finally:
        opened.close()


def test_concurrent_writers_in_one_process_are_isolated_from_each_others_failures(
    storage: SQLiteStorage,
) -> None:
    """Writes of many threads share transactions (group commit); a failing one must not undo
    or fail the others."""
    errors: list[BaseException] = []
    created: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def client(number: int) -> None:
        start.wait()
        for step in range(40):
            bad = (number + step) % 5 == 0
            job = make_job(
                state="Awaiting" if bad else "Enqueued", parent_id="999999" if bad else None
            )
            try:
                ids = storage.create_jobs([job])
            except KeyError as exc:  # JobNotFoundError
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    created.extend(ids)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 8 * 40 // 5
    assert len(created) == len(set(created)) == 8 * 40 - len(errors)
    assert storage.count_by_state()["Enqueued"] == len(created)
    assert storage.count_by_state()["Awaiting"] == 0


def test_the_wal_starts_over_while_threads_keep_writing(
    storage: SQLiteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checkpoints must not only copy the WAL back but let it start over, even though other
    writers never stop appending (else the -wal file grows by every write, forever)."""
    monkeypatch.setattr(sqlite_checkpoint, "CHECKPOINT_PAGES", 500)  # about 2 MB of pages
    job = make_job(args=["x" * 200])

    def client() -> None:
        for _ in range(1000):
            storage.create_jobs([job])

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.count_by_state()["Enqueued"] == 4000
    # Without restarts the file holds every page written (about 65 MB here); with them it
    # holds what is written between checkpoints, plus during a checkpoint's slow fsync().
    assert Path(storage.path + "-wal").stat().st_size < 32 * 1024 * 1024


# --- the batch runner -----------------------------------------------------------------------
def _insert(value: int, fail: bool = False) -> WriteRequest[int]:
    def body(conn: sqlite3.Connection, woken: set[str]) -> int:
        conn.execute("INSERT INTO item (value) VALUES (?)", (value,))
        woken.add(f"q{value}")
        if fail:
            raise ValueError(f"body {value} failed after writing")
        return value

    return WriteRequest(body)


@pytest.fixture
def items(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(tmp_path / "items.db", isolation_level=None)
    conn.execute("CREATE TABLE item (value INTEGER)")
    yield conn
    conn.close()


def _values(conn: sqlite3.Connection) -> list[int]:
    return [row[0] for row in conn.execute("SELECT value FROM item ORDER BY value")]


def test_a_batch_commits_every_body_in_one_transaction(items: sqlite3.Connection) -> None:
    batch = [_insert(1), _insert(2), _insert(3)]
    assert run_batch(items, batch) == []
    assert _values(items) == [1, 2, 3]
    assert [(r.result, r.error, r.woken) for r in batch] == [
        (1, None, {"q1"}),
        (2, None, {"q2"}),
        (3, None, {"q3"}),
    ]
    assert not items.in_transaction


def test_a_failing_body_is_undone_alone(items: sqlite3.Connection) -> None:
    batch = [_insert(1), _insert(2, fail=True), _insert(3)]
    assert run_batch(items, batch) == []
    assert _values(items) == [1, 3]
    assert isinstance(batch[1].error, ValueError)
    assert batch[1].woken == set()
    assert (batch[0].error, batch[2].error) == (None, None)


def test_a_failing_single_body_writes_nothing(items: sqlite3.Connection) -> None:
    (request,) = batch = [_insert(1, fail=True)]
    assert run_batch(items, batch) == []
    assert _values(items) == []
    assert isinstance(request.error, ValueError)


def test_a_body_that_aborts_the_transaction_has_the_others_run_again(
    items: sqlite3.Connection,
) -> None:
    def abort(conn: sqlite3.Connection, woken: set[str]) -> None:
        conn.execute("INSERT INTO item (value) VALUES (99)")
        conn.execute("ROLLBACK")  # as SQLite does itself on a full disk or an I/O error
        raise sqlite3.OperationalError("database or disk is full")

    first, aborting, last = _insert(1), WriteRequest(abort), _insert(3)
    batch: list[WriteRequest[Any]] = [first, aborting, last]
    assert run_batch(items, batch) == [first, last]
    assert isinstance(aborting.error, sqlite3.OperationalError)
    assert _values(items) == []
    for request in (first, last):
        request.reset()
    assert run_batch(items, [first, last]) == []
    assert _values(items) == [1, 3]
