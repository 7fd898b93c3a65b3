"""docs/testing.md: its pytest example runs as written, and every test in it passes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def _example_files() -> dict[str, str]:
    section = DOC.read_text(encoding="utf-8").split("## A complete pytest example", 1)[1]
    return {
        name: code for code, name in re.findall(r"```python\n(# (\w+\.py)\n.*?)```", section, re.S)
    }


@pytest.mark.slow
def test_the_pytest_example_of_the_testing_guide_passes_as_written(tmp_path: Path) -> None:
    files = _example_files()
    assert set(files) == {"tasks.py", "test_tasks.py"}
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_tasks.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b4 passed\b", done.stdout), done.stdout
