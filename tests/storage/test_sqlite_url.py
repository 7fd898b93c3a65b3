"""SQLite storage URLs and options: files, :memory:, query options, clear errors."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from stoker.core.errors import StorageURLError
from stoker.storage import open_storage
from stoker.storage.sqlite import SQLiteStorage
from stoker.storage.sqlite.url import MEMORY, SQLiteOptions, parse_sqlite_url
from stoker.testing.contract_support import create, fetch_id


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///dir/sub/jobs.db", "dir/sub/jobs.db"),
        ("sqlite:////var/lib/stoker/jobs.db", "/var/lib/stoker/jobs.db"),
        ("sqlite:///with%20space.db", "with space.db"),
        ("sqlite://:memory:", MEMORY),
        ("sqlite:///:memory:", MEMORY),
        ("SQLITE:///upper.db", "upper.db"),
    ],
)
def test_url_names_the_database_file(url: str, path: str) -> None:
    assert parse_sqlite_url(url, {})[0] == path


def test_url_query_options_are_parsed() -> None:
    url = (
        "sqlite:///jobs.db?busy_timeout=250&retry_timeout=2.5&poll_interval=0.01"
        "&synchronous=full&migrate=false"
    )
    _, options = parse_sqlite_url(url, {})
    assert options == SQLiteOptions(
        busy_timeout=250, retry_timeout=2.5, poll_interval=0.01, synchronous="FULL", migrate=False
    )
    assert parse_sqlite_url("sqlite:///jobs.db", {})[1] == SQLiteOptions()


def test_keyword_options_override_the_url() -> None:
    _, options = parse_sqlite_url("sqlite:///jobs.db?busy_timeout=250", {"busy_timeout": 900})
    assert options.busy_timeout == 900


def test_unknown_option_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(StorageURLError) as raised:
        parse_sqlite_url("sqlite:///jobs.db?timeout=5", {})
    assert "'timeout'" in str(raised.value)
    assert "busy_timeout" in str(raised.value)
    with pytest.raises(StorageURLError, match="pool_size"):
        open_storage("sqlite:///jobs.db", pool_size=3)


@pytest.mark.parametrize(
    "query",
    [
        "busy_timeout=-1",
        "busy_timeout=soon",
        "poll_interval=0",
        "retry_timeout=nan",
        "synchronous=sometimes",
        "migrate=maybe",
    ],
)
def test_malformed_option_values_are_refused(query: str) -> None:
    name = query.split("=")[0]
    with pytest.raises(StorageURLError, match=f"SQLite option '{name}'"):
        parse_sqlite_url(f"sqlite:///jobs.db?{query}", {})


@pytest.mark.parametrize(
    "url", ["sqlite://host/jobs.db", "sqlite://", "sqlite:///", "sqlite:///dir/"]
)
def test_url_without_a_file_is_refused(url: str) -> None:
    with pytest.raises(StorageURLError, match=re.escape("sqlite:///relative.db")):
        parse_sqlite_url(url, {})


def test_relative_path_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    opened = open_storage("sqlite:///relative.db")
    try:
        assert isinstance(opened, SQLiteStorage)
        assert opened.path == str(tmp_path / "relative.db")
        assert (tmp_path / "relative.db").exists()
    finally:
        opened.close()


def test_missing_directory_is_reported_clearly(tmp_path: Path) -> None:
    with pytest.raises(StorageURLError, match="does not exist"):
        open_storage(f"sqlite:///{tmp_path}/no/such/dir/jobs.db")


def test_memory_url_is_a_private_file_shared_by_threads_and_deleted_on_close() -> None:
    opened = SQLiteStorage.from_url("sqlite://:memory:")
    other = SQLiteStorage.from_url("sqlite://:memory:")
    try:
        assert opened.path != other.path
        assert os.path.exists(opened.path)
        job_id = create(opened)
        seen: list[str | None] = []
        thread = threading.Thread(target=lambda: seen.append(fetch_id(opened, ["default"])))
        thread.start()
        thread.join()
        assert seen == [job_id]
        assert other.count_by_state()["Processing"] == 0
    finally:
        opened.close()
        other.close()
    assert not os.path.exists(opened.path)
    assert not os.path.exists(os.path.dirname(opened.path))
