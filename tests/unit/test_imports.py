"""What `import stoker` and a server of plain `def` jobs load: nothing they do not use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "asyncio",
    "ssl",
    "starlette",
    "jinja2",
    "uvicorn",
    "psycopg",
    "redis",
    "opentelemetry",
    "prometheus_client",
)
FRAMEWORKS = ("django", "flask", "a2wsgi", "werkzeug", "asgiref")


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


def test_opentelemetry_is_loaded_only_by_its_integration() -> None:
    # stoker[otel] is an extra: `import stoker`, an App and its client never load it, even
    # when it is installed (as it is here); the integration module does.
    loaded = _loaded_after(
        "import stoker\napp = stoker.App('sqlite://:memory:')\nimport stoker.client.client"
    )
    assert "opentelemetry" not in loaded
    assert "opentelemetry" in _loaded_after("import stoker.contrib.otel")


def test_import_stoker_and_its_dashboard_load_no_web_framework() -> None:
    loaded = _loaded_after("import stoker, stoker.dashboard\nstoker.App('sqlite://:memory:')")
    assert loaded.isdisjoint(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))
    assert "django" in _loaded_after("import stoker.contrib.django.asgi")  # the probe sees it


def test_async_app_is_loaded_on_first_use() -> None:
    loaded = _loaded_after("import stoker\nassert stoker.AsyncApp.__name__ == 'AsyncApp'")
    assert "asyncio" in loaded


def test_the_supervisor_of_several_server_processes_loads_no_app_client_or_driver() -> None:
    # It only parses the command line, checks the options, then starts and watches its
    # children: the App behind them would cost it about 3 MiB of PSS for nothing.
    probe = (
        "import json, sys\n"
        "from stoker.cli.main import build_parser\n"
        "import stoker.server.processes\n"
        "build_parser().parse_args(['server', '--processes', '2'])\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    unwanted = {"stoker.app", "stoker.client", "stoker.server.server", "stoker.storage", "sqlite3"}
    assert loaded.isdisjoint(unwanted), sorted(loaded & unwanted)


def test_the_supervisor_with_a_metrics_port_loads_prometheus_client_but_no_app_or_driver() -> None:
    # It serves the children's figures added up (multiprocess mode): only prometheus_client.
    probe = (
        "import json, sys\n"
        "from stoker.cli.main import build_parser\n"
        "import stoker.server.processes, stoker.metrics.supervisor\n"
        "build_parser().parse_args(['server', '--processes', '2', '--metrics-port', '9100'])\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    unwanted = {"stoker.app", "stoker.client", "stoker.server.server", "stoker.storage", "sqlite3"}
    assert loaded.isdisjoint(unwanted), sorted(loaded & unwanted)
    assert "prometheus_client" in loaded


def test_every_name_stoker_exports_is_importable_and_listed() -> None:
    import stoker

    for name in stoker.__all__:
        assert getattr(stoker, name) is not None, name
    assert sorted(dir(stoker)) == sorted(stoker.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        stoker.Nope  # noqa: B018
