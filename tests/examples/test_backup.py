"""The recurring backup: SQLite online backup, integrity check, result and log, pruning."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from examples.registration.backup import (
    BackupError,
    integrity_check,
    list_backups,
    prune,
    take_backup,
)
from examples.registration.settings import Settings
from examples.registration.system import BACKUP_JOB_ID, Registration
from tests.examples.conftest import wait_for_state
from tests.polling import wait_for

Start = Callable[..., Registration]
MakeSettings = Callable[..., Settings]


def count_users(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])


def test_backup_job_writes_a_verified_copy_and_records_its_name_and_size(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    settings = make_settings(sqlite_url)
    registration = start_registration(settings)
    for n in range(5):
        registration.users.register(f"User {n}", f"user{n}@example.com", datetime.now(UTC))

    job_id = registration.back_up_now()
    info = wait_for_state(registration.stoker, job_id, "Succeeded")

    result = info.result
    backup_file = settings.backup.folder / result["file"]
    assert backup_file.is_file()
    assert result["bytes"] == backup_file.stat().st_size > 0
    assert result["integrity_check"] == "ok"
    assert result["removed"] == []
    assert integrity_check(backup_file) == "ok"
    assert count_users(backup_file) == 5
    assert info.params["recurring_id"] == BACKUP_JOB_ID
    logs = [line for _, line in info.logs]
    assert any(result["file"] in line and f"{result['bytes']} bytes" in line for line in logs)
    assert any("integrity_check: ok" in line for line in logs)
    assert info.progress == 1.0
    # A backup is one self-contained file (not a WAL database needing -wal/-shm files).
    assert sorted(path.name for path in settings.backup.folder.iterdir()) == [result["file"]]


def test_backups_are_pruned_to_the_configured_number_newest_kept(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    settings = make_settings(sqlite_url, backup={"keep": 2})
    registration = start_registration(settings)
    (settings.backup.folder / "notes.txt").write_text("not a backup: never pruned")
    files = []
    for _ in range(4):
        done = wait_for_state(registration.stoker, registration.back_up_now(), "Succeeded")
        files.append(done.result["file"])
    assert done.result["removed"] == [files[1]]  # the first was removed by the third run
    remaining = [backup.path.name for backup in registration.backups()]
    assert remaining == [files[3], files[2]]
    assert (settings.backup.folder / "notes.txt").exists()


def test_the_backup_runs_on_the_cron_schedule_from_the_settings(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    settings = make_settings(sqlite_url, backup={"cron": "* * * * * *", "keep": 2})
    registration = start_registration(settings)
    record = registration.backup_job()
    assert record is not None
    assert (record.cron, record.timezone) == ("* * * * * *", "UTC")
    assert record.function == "examples.registration.jobs:backup_database"

    def succeeded_backups() -> bool:
        return registration.stoker.storage.count_by_state()["Succeeded"] >= 3

    wait_for(succeeded_backups, timeout=20, what="three scheduled backups")
    registration.stop()  # lets a running backup finish: then the folder is pruned
    assert 1 <= len(list_backups(settings.backup.source, settings.backup.folder)) <= 2


def test_changed_backup_settings_update_the_recurring_job_at_the_next_start(
    sqlite_url: str, make_settings: MakeSettings, start_registration: Start
) -> None:
    start_registration(make_settings(sqlite_url)).stop()
    changed = make_settings(sqlite_url, backup={"cron": "30 4 * * 1", "timezone": "Asia/Tokyo"})
    record = start_registration(changed).backup_job()
    assert record is not None
    assert (record.cron, record.timezone) == ("30 4 * * 1", "Asia/Tokyo")


def test_a_backup_taken_during_writes_is_a_consistent_snapshot(tmp_path: Path) -> None:
    source = tmp_path / "busy.db"
    with closing(sqlite3.connect(source)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL)")
        conn.commit()
    stop = threading.Event()

    def write_batches_of_ten() -> None:
        with closing(sqlite3.connect(source, timeout=10)) as conn:
            batch = 0
            while not stop.is_set():
                batch += 1
                with conn:
                    conn.executemany(
                        "INSERT INTO users (batch) VALUES (?)", [(batch,) for _ in range(10)]
                    )

    writer = threading.Thread(target=write_batches_of_ten)
    writer.start()
    try:
        wait_for(lambda: count_users(source) >= 200, what="the writer to get going")
        taken = [take_backup(source, tmp_path, datetime.now(UTC))[0] for _ in range(5)]
    finally:
        stop.set()
        writer.join()
    for backup in taken:
        assert integrity_check(backup.path) == "ok"
        copied = count_users(backup.path)
        assert copied >= 200
        assert copied % 10 == 0, "a backup holds half a transaction"


def test_a_backup_of_a_missing_database_fails_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist"):
        take_backup(tmp_path / "missing.db", tmp_path, datetime.now(UTC))
    assert list(tmp_path.iterdir()) == []


def test_backups_taken_at_the_same_instant_get_distinct_names(tmp_path: Path) -> None:
    source = tmp_path / "app.db"
    with closing(sqlite3.connect(source)) as conn:
        conn.execute("CREATE TABLE t (x)")
    folder = tmp_path / "backups"
    folder.mkdir()
    instant = datetime(2036, 3, 1, 12, 0, tzinfo=UTC)
    first, _ = take_backup(source, folder, instant)
    second, _ = take_backup(source, folder, instant)
    assert first.path != second.path
    assert [b.path for b in list_backups(source, folder)] == [second.path, first.path]
    removed = prune(source, folder, 1, lambda line: None)
    assert removed == [first.path.name]
