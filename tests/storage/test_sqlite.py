"""SQLite storage specifics: schema migrations, persistence, counts, connections, query plans."""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from stoker.core.states import Succeeded
from stoker.errors import ForeignDatabaseError, SchemaTooNewError, StorageClosedError
from stoker.storage.sqlite import SQLiteStorage, schema
from stoker.testing.contract_support import at, change, create, details, fetch_id, make_job


@pytest.fixture
def storage(sqlite_url: str) -> Iterator[SQLiteStorage]:
    opened = SQLiteStorage.from_url(sqlite_url)
    yield opened
    opened.close()


def _user_version(path: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


# --- schema -----------------------------------------------------------------------------------
def test_schema_version_is_recorded_and_migrating_again_does_nothing(
    storage: SQLiteStorage,
) -> None:
    assert _user_version(storage.path) == schema.LATEST_VERSION
    assert storage.migrate() == 0
    storage.close()
    reopened = SQLiteStorage.from_url(f"sqlite:///{storage.path}")
    try:
        assert reopened.migrate() == 0
        assert _user_version(storage.path) == schema.LATEST_VERSION
    finally:
        reopened.close()


def test_pending_migrations_are_applied_in_order(
    storage: SQLiteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = create(storage)
    later = (
        (schema.LATEST_VERSION + 1, "notes", ("CREATE TABLE note (id INTEGER PRIMARY KEY)",)),
        (
            schema.LATEST_VERSION + 2,
            "a note",
            ("INSERT INTO note (id) SELECT count(*) FROM sqlite_master WHERE name = 'note'",),
        ),
    )
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + later)
    monkeypatch.setattr(schema, "LATEST_VERSION", schema.LATEST_VERSION + 2)
    assert storage.migrate() == 2
    assert storage.migrate() == 0
    assert _user_version(storage.path) == schema.LATEST_VERSION
    conn = sqlite3.connect(storage.path)
    assert conn.execute("SELECT id FROM note").fetchall() == [(1,)]  # 1: ran after the table
    conn.close()
    assert details(storage, job_id).job.state.name == "Enqueued"


def test_failing_migration_leaves_the_schema_as_it_was(
    storage: SQLiteStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = (
        schema.LATEST_VERSION + 1,
        "broken",
        ("CREATE TABLE half_done (id INTEGER)", "CREATE TABLE half_done (id INTEGER)"),
    )
    before = schema.LATEST_VERSION
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(schema, "LATEST_VERSION", before + 1)
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        storage.migrate()
    assert _user_version(storage.path) == before
    conn = sqlite3.connect(storage.path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "half_done" not in tables


def test_database_of_a_newer_stoker_is_refused(storage: SQLiteStorage) -> None:
    path = storage.path
    storage.close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {schema.LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError, match="upgrade stoker"):
        SQLiteStorage.from_url(f"sqlite:///{path}")


def test_another_applications_database_is_not_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(ForeignDatabaseError, match="users"):
        SQLiteStorage.from_url(f"sqlite:///{path}")
    assert _user_version(str(path)) == 0


def test_migrate_false_leaves_a_new_file_alone(tmp_path: Path) -> None:
    opened = SQLiteStorage.from_url(f"sqlite:///{tmp_path}/later.db?migrate=false")
    try:
        assert _user_version(opened.path) == 0
        assert opened.migrate() == schema.LATEST_VERSION  # every migration, in order
        assert opened.count_by_state()["Enqueued"] == 0
    finally:
        opened.close()


def test_the_database_is_in_wal_mode(storage: SQLiteStorage) -> None:
    conn = sqlite3.connect(storage.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# --- persistence ------------------------------------------------------------------------------
def test_data_survives_close_and_reopen(storage: SQLiteStorage) -> None:
    url = f"sqlite:///{storage.path}"
    done = create(storage, created_at=at(1))
    waiting = create(storage, created_at=at(2))
    assert fetch_id(storage, ["default"], at(3)) == done
    assert change(storage, done, Succeeded(result={"n": 1}), at(4), expire_at=at(100))
    before = (storage.count_by_state(), details(storage, done), details(storage, waiting))
    storage.close()
    reopened = SQLiteStorage.from_url(url)
    try:
        after = (reopened.count_by_state(), details(reopened, done), details(reopened, waiting))
        assert after == before
        assert fetch_id(reopened, ["default"], at(5)) == waiting
    finally:
        reopened.close()


def test_job_ids_are_never_reused(storage: SQLiteStorage) -> None:
    first = create(storage)
    last = create(storage)
    for job_id in (first, last):
        assert change(storage, job_id, Succeeded(), at(1), expire_at=at(2))
    assert storage.delete_expired(at(3), 10) == 2
    newer = create(storage)
    assert int(newer) > int(last)


def test_state_counts_match_the_jobs_after_a_mixed_workload(storage: SQLiteStorage) -> None:
    parent = create(storage)
    child = create(storage, "kids", state="Awaiting", parent_id=parent)
    create(storage, "kids", state="Awaiting", parent_id=parent, on_states=("Failed",))
    storage.create_jobs([make_job(q) for q in ("a", "b", "b", "c")])
    storage.create_jobs([make_job(state="Scheduled", run_at=at(5))] * 3)
    assert storage.enqueue_due_scheduled(at(10), 2) == 2
    assert fetch_id(storage, ["b"]) is not None
    assert change(
        storage, parent, Succeeded(), at(11), expire_at=at(20), release_continuations=True
    )
    assert fetch_id(storage, ["kids"]) == child
    storage.delete_expired(at(30), 100)
    conn = sqlite3.connect(storage.path)
    rows = conn.execute("SELECT state, count(*) FROM job GROUP BY state").fetchall()
    queues = conn.execute(
        "SELECT queue, count(*) FROM job WHERE state = 'Enqueued' GROUP BY queue"
    ).fetchall()
    conn.close()
    counts = storage.count_by_state()
    assert {state: n for state, n in counts.items() if n} == dict(rows)
    assert storage.queue_lengths() == dict(queues)


def test_enqueued_pages_merge_every_queue_in_order(storage: SQLiteStorage) -> None:
    ids = [create(storage, f"q{n % 3}", created_at=at(10 - n % 4 + n / 100)) for n in range(12)]
    times = {job_id: details(storage, job_id).job.state.created_at for job_id in ids}
    oldest_first = sorted(ids, key=lambda job_id: (times[job_id], int(job_id)))
    for offset, limit in ((0, 5), (3, 4), (10, 50), (12, 5)):
        for newest in (False, True):
            expected = oldest_first[::-1] if newest else oldest_first
            page = storage.list_jobs("Enqueued", offset=offset, limit=limit, newest_first=newest)
            assert [job.id for job in page] == expected[offset : offset + limit]
    assert storage.list_jobs("Enqueued", limit=0) == []


# --- connections --------------------------------------------------------------------------------
def test_connections_of_finished_threads_are_closed(storage: SQLiteStorage) -> None:
    storage.count_by_state()
    threads = [threading.Thread(target=storage.count_by_state) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    del threads
    gc.collect()
    assert len(storage._db._conns) == 1  # this thread's reader only


def test_close_closes_every_connection_and_later_use_is_refused(storage: SQLiteStorage) -> None:
    readers: list[sqlite3.Connection] = []

    def read() -> None:
        storage.count_by_state()
        readers.append(storage._db.connection())

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    create(storage)
    writer = storage._db.shared.writer
    assert writer is not None
    storage.close()
    for conn in [*readers, writer]:
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")
    with pytest.raises(StorageClosedError):
        create(storage)
    with pytest.raises(StorageClosedError):
        storage.count_by_state()
    storage.close()  # closing twice is harmless


def test_storages_of_one_file_share_the_writer_until_the_last_closes(sqlite_url: str) -> None:
    first = SQLiteStorage.from_url(sqlite_url)
    second = SQLiteStorage.from_url(sqlite_url)
    assert first._db.shared is second._db.shared
    create(first)
    first.close()
    assert create(second)
    assert second.count_by_state()["Enqueued"] == 2
    second.close()


# --- query plans ------------------------------------------------------------------------------
def _plans() -> Iterator[tuple[str, str, int]]:
    from stoker.storage.sqlite import continuations, jobs, monitor

    yield "peek", jobs.PEEK, 1
    yield "claim", jobs.CLAIM, 5
    for (with_params, release), sql in jobs.CHANGE.items():
        yield f"change({with_params}, {release})", sql, 12 if with_params else 11
    yield "enqueue_due", jobs.ENQUEUE_DUE, 3
    yield "requeue_orphans", jobs.REQUEUE_ORPHANS, 6
    yield "delete_expired", jobs.DELETE_EXPIRED, 2
    yield "children", continuations.CHILDREN, 1
    for (kind, newest), sql in monitor.LIST_JOBS.items():
        yield f"list_{kind}_{newest}", sql, sql.count("?")
    for newest, sql in monitor.ENQUEUED_KEYS.items():
        yield f"list_enqueued_keys_{newest}", sql, sql.count("?")
    for (queue, latest), sql in monitor.DUE_KEYS.items():
        yield f"list_due_keys_{queue}_{latest}", sql, sql.count("?")
    for queue, sql in monitor.DUE_LATER.items():
        yield f"list_due_later_{queue}", sql, sql.count("?")
    for queue, sql in monitor.DUE_TIED.items():
        yield f"list_due_tied_{queue}", sql, sql.count("?")
    for name, sql in monitor.SEARCH_WINDOW_SQL.items():
        yield f"search_window_{name}", sql, sql.count("?")
    for name, sql in monitor.SEARCH_ID.items():
        yield f"search_id_{name}", sql, sql.count("?")
    for name in ("JOB", "JOBS_BY_IDS", "HISTORY", "LOGS", "CHILD_IDS"):
        yield name, getattr(monitor, name), 1


@pytest.mark.parametrize(("name", "sql", "params"), list(_plans()))
def test_hot_and_monitor_queries_never_scan_the_jobs_table(
    storage: SQLiteStorage, name: str, sql: str, params: int
) -> None:
    conn = storage._db.connection()
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [None] * params)]
    # json_each is the list of ids a query was given, not a table.
    scans = [
        step
        for step in plan
        if step.startswith("SCAN") and " USING " not in step and "json_each" not in step
    ]
    assert not scans, f"{name}: {plan}"
    if name.startswith(("list_", "search_window_")):
        assert not any("TEMP B-TREE" in step for step in plan), f"{name}: {plan}"
    if name.startswith("list_due_"):  # Scheduled jobs by due time: the due index, in order
        assert any("INDEX job_run_at" in step for step in plan), f"{name}: {plan}"


def test_explain_helper_sees_a_full_scan(storage: SQLiteStorage) -> None:
    # The plan check above must be able to fail.
    conn = storage._db.connection()
    plan = [
        row[3]
        for row in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM job WHERE args = ?", [None])
    ]
    assert any(step.startswith("SCAN") and " USING " not in step for step in plan)


def test_a_file_of_version_1_gains_keys_and_limits_and_keeps_its_jobs(tmp_path: Path) -> None:
    from dataclasses import replace

    from stoker.testing.contract import at, make_job

    url = f"sqlite:///{tmp_path}/old.db"
    opened = SQLiteStorage.from_url(url)
    (old_job,) = opened.create_jobs([make_job()])
    opened.close()
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("DROP TABLE idempotency")  # what version 1 had
    conn.execute("DROP TABLE unique_key")
    conn.execute("DROP TRIGGER job_unique_freed")
    for table in ("concurrency_slot", "concurrency_wait", "rate_start"):  # version 3's
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DROP TRIGGER job_limits_freed")
    conn.execute("DROP TRIGGER job_batch_count")  # version 4's
    conn.execute("DROP INDEX job_batch")
    for table in ("batch", "batch_count", "batch_continuation"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("ALTER TABLE job DROP COLUMN batch_id")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    upgraded = SQLiteStorage.from_url(url)
    try:
        assert _user_version(upgraded.path) == schema.LATEST_VERSION
        assert upgraded.count_by_state()["Enqueued"] == 1
        keyed = replace(make_job(), idempotency_key="k", idempotency_expire_at=at(100))
        (first,) = upgraded.create_jobs([keyed])
        assert upgraded.create_jobs([keyed]) == [first]
        assert first != old_job
        assert upgraded.promote_waiting(at(1), 10) == 0  # the limits' tables are there
        assert upgraded.finish_batches(at(1), 10) == []  # and the batches'
    finally:
        upgraded.close()
