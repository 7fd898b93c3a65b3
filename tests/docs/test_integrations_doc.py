"""docs/integrations.md shows the examples' code as it is: each snippet is in its file, and
the examples' tests run those files."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "integrations.md"
SNIPPET = re.compile(r"```python\n# (examples/\S+)\n(.*?)```", re.S)


def appears_in(snippet: str, text: str) -> bool:
    """`snippet` is a run of whole lines of `text`, at any indentation."""
    wanted = snippet.rstrip("\n").splitlines()
    lines = text.splitlines()
    return any(
        textwrap.dedent("\n".join(lines[start : start + len(wanted)])) == "\n".join(wanted)
        for start in range(len(lines) - len(wanted) + 1)
    )


def test_every_snippet_is_code_of_an_example_that_a_test_runs() -> None:
    snippets = SNIPPET.findall(DOC.read_text(encoding="utf-8"))
    files = {path for path, _ in snippets}
    assert {path.split("/")[1] for path in files} == {"django_site", "flask_app", "fastapi_app"}
    for path, code in snippets:
        assert appears_in(code, (REPO / path).read_text(encoding="utf-8")), path
    for example in ("django_site", "flask_app", "fastapi_app"):
        assert (REPO / "tests" / "examples" / f"test_{example}.py").is_file()


def test_a_changed_snippet_is_noticed() -> None:
    assert appears_in("b\n  c\n", "a\n    b\n      c\nd")
    assert not appears_in("b\nc\n", "a\n    b\n      c\nd")
