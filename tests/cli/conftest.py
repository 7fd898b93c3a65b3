"""CLI fixtures: run `stoker` in-process (capturing output) or as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import stoker
from stoker.cli import main

ROOT = Path(__file__).resolve().parents[2]
STOKER = Path(sys.executable).with_name("stoker")
STORAGES = ["sqlite", "postgres", "redis"]


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(params=STORAGES)
def any_storage_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def app(any_storage_url: str) -> Iterator[stoker.App]:
    """An App on the same storage the CLI is pointed at, to set up and check state."""
    application = stoker.App(any_storage_url)
    yield application
    application.close()


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*argv: str) -> Result:
        try:
            code = main(["--log-level", "WARNING", *argv])
        except SystemExit as exit_:  # argparse errors and --help
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a `stoker` subprocess that can import the tests' job modules."""
    env = {key: value for key, value in os.environ.items() if key != "STOKER_STORAGE"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def run_stoker(*argv: str, module: bool = False, timeout: float = 30.0) -> Result:
    command = [sys.executable, "-m", "stoker", *argv] if module else [str(STOKER), *argv]
    done = subprocess.run(
        command, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_clean_error(result: Result, *fragments: str) -> None:
    """Exit code 2 and one line on stderr saying what was wrong: no traceback."""
    assert result.code == 2, result
    assert "Traceback" not in result.err, result.err
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
