"""`stoker` commands refuse a memory:// storage: its jobs live in another process's memory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cli.conftest import Result, assert_clean_error

Run = Callable[..., Result]


@pytest.mark.parametrize(
    "command",
    [["jobs", "list"], ["enqueue", "tests.cli.cli_jobs:add", "1", "2"], ["storage", "migrate"]],
    ids=" ".join,
)
def test_a_memory_storage_url_is_refused_with_a_clear_error(
    run_cli: Run, command: list[str]
) -> None:
    result = run_cli(*command, "--storage", "memory://shared")
    assert_clean_error(result, "memory://shared lives in the memory of the process")


def test_a_memory_storage_from_the_environment_is_refused_too(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STOKER_STORAGE", "MEMORY://")
    assert_clean_error(run_cli("jobs", "list"), "a `stoker` command cannot see its jobs")
