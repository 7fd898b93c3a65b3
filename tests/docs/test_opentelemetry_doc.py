"""docs/opentelemetry.md: its examples run as written and print what the page shows."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "opentelemetry.md"


def _section(title: str) -> str:
    return PAGE.read_text(encoding="utf-8").split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _run(directory: Path, script: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, script], cwd=directory, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_snippet_that_turns_tracing_on_runs(tmp_path: Path) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", _section("Turning it on"), re.S)
    (tmp_path / "snippet.py").write_text(code, encoding="utf-8")
    assert _run(tmp_path, "snippet.py") == []


@pytest.mark.slow
def test_the_complete_example_runs_as_written_and_prints_what_the_page_shows(
    tmp_path: Path,
) -> None:
    section = _section("A complete example")
    files = {
        name: code for code, name in re.findall(r"```python\n(# (\w+\.py)\n.*?)```", section, re.S)
    }
    assert set(files) == {"tasks.py", "main.py"}
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    output = re.search(r"```console\n\$ python main.py\n(.*?)```", section, re.S)
    assert output is not None, "the page shows the output of `python main.py`"
    assert _run(tmp_path, "main.py") == output.group(1).splitlines()
