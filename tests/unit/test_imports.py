"""What `import stoker` and a server of plain `def` jobs load: nothing they do not use."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("asyncio", "ssl", "starlette", "jinja2", "uvicorn", "psycopg", "redis")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


def test_a_server_of_def_jobs_on_sqlite_loads_no_asyncio_web_library_or_other_driver() -> None:
    # asyncio and ssl alone cost a server process about 3 MiB; they come with the first
    # async job (or AsyncApp, or a driver that needs them), not before.
    loaded = _loaded_after(
        "import stoker, stoker.cli.commands\n"
        "app = stoker.App('sqlite://:memory:')\n"
        "with app.server(workers=2, poll_interval=0.05): pass"
    )
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_async_app_is_loaded_on_first_use() -> None:
    loaded = _loaded_after("import stoker\nassert stoker.AsyncApp.__name__ == 'AsyncApp'")
    assert "asyncio" in loaded
