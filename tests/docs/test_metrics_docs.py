"""docs/metrics.md: its examples run as written and print what the page shows."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from stoker.core.log_fields import FIELDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _examples() -> tuple[dict[str, str], dict[str, list[str]]]:
    """The page's files (`# name.py` first line) and the output it shows for each script."""
    text = DOC.read_text(encoding="utf-8")
    files = {
        name: code for code, name in re.findall(r"```python\n(# (\w+\.py)\n.*?)```", text, re.S)
    }
    shown = {
        name: output.splitlines()
        for name, output in re.findall(r"```console\n\$ python (\w+\.py)\n(.*?)```", text, re.S)
    }
    return files, shown


def _run(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    files, _ = _examples()
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_page_has_the_examples_it_runs() -> None:
    files, shown = _examples()
    assert set(files) == {"tasks.py", "metrics_example.py", "json_logs.py"}
    assert set(shown) == {"metrics_example.py", "json_logs.py"}


@pytest.mark.slow
def test_the_metrics_example_prints_what_the_page_shows(tmp_path: Path) -> None:
    done = _run(tmp_path, "metrics_example.py")
    assert done.stdout.splitlines() == _examples()[1]["metrics_example.py"]


@pytest.mark.slow
def test_the_json_formatter_example_writes_the_fields_the_page_shows(tmp_path: Path) -> None:
    done = _run(tmp_path, "json_logs.py")
    (shown,) = [json.loads(line) for line in _examples()[1]["json_logs.py"]]
    (written,) = [json.loads(line) for line in done.stderr.splitlines()]
    assert set(FIELDS) <= written.keys()
    assert written["stoker_server"].startswith("worker-a:")
    del shown["stoker_server"], written["stoker_server"]
    assert written == shown
