"""The README's quick start runs as written and prints what the README says it prints."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _quick_start() -> tuple[dict[str, str], list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    files = {
        name: code for code, name in re.findall(r"```python\n(# (\w+\.py)\n.*?)```", section, re.S)
    }
    output = re.search(r"```console\n\$ python main.py\n(.*?)```", section, re.S)
    assert output is not None, "the quick start shows the output of `python main.py`"
    return files, output.group(1).splitlines()


@pytest.mark.slow
def test_the_quick_start_runs_as_written_and_prints_what_the_readme_shows(tmp_path: Path) -> None:
    files, expected = _quick_start()
    assert set(files) == {"tasks.py", "main.py"}
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "main.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected
