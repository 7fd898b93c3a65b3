"""The package's dependency rules: no import circle, no upward import, no driver in the core."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# What each part of stoker may import (besides itself). A module belongs to the longest part
# name that prefixes it. Read from the bottom up: core <- storage drivers <- the opener;
# core <- client <- metrics <- dashboard; core <- server; all of them <- app <- cli <- `stoker`
# itself.
CORE = "stoker.core"
DRIVERS = (
    "stoker.storage.sqlite",
    "stoker.storage.postgres",
    "stoker.storage.redis",
    "stoker.storage.memory",
)
PARTS = (
    "stoker.storage",
    "stoker.client",
    "stoker.server",
    "stoker.dashboard",
    "stoker.metrics",
)
CONTRIB = "stoker.contrib"
ALLOWED: dict[str, frozenset[str]] = {
    CORE: frozenset(),
    "stoker.storage.common": frozenset({CORE}),
    **{driver: frozenset({CORE, "stoker.storage.common"}) for driver in DRIVERS},
    "stoker.storage": frozenset({CORE, "stoker.storage.common", *DRIVERS}),
    "stoker.errors": frozenset({CORE}),
    "stoker.client": frozenset({CORE}),
    "stoker.server": frozenset({CORE}),
    "stoker.testing": frozenset({CORE, "stoker.testing.eager"}),
    # Runs jobs as a server's worker does, for users' tests: the only testing module on a server.
    "stoker.testing.eager": frozenset({CORE, "stoker.server"}),
    # Metrics read an App through its runtime; the client only names its type.
    "stoker.metrics": frozenset({CORE, "stoker.client"}),
    "stoker.dashboard": frozenset({CORE, "stoker.client", "stoker.metrics"}),
    "stoker.app": frozenset({CORE, *PARTS}),
    "stoker.async_app": frozenset({CORE, *PARTS, "stoker.app"}),
    "stoker.cli": frozenset({CORE, *PARTS, "stoker.app"}),
    # The integrations (an optional extra each) sit on top: the public API and the layers it
    # is made of. Nothing imports them, not even `stoker`: a user imports the one they use.
    CONTRIB: frozenset({CORE, *PARTS, "stoker.app", "stoker.async_app", "stoker"}),
    "stoker": frozenset({"*"}),  # the public API and `python -m stoker`
}
# Third-party and standard-library packages only some parts may use: a driver only in its
# storage, the web libraries only in the dashboard and what is built on it.
WEB = {"stoker.dashboard", "stoker.app", "stoker.cli", "stoker", CONTRIB}
RESTRICTED = {
    # Each framework only in its own integration.
    "django": {CONTRIB},
    "asgiref": {CONTRIB},
    "flask": {CONTRIB},
    "a2wsgi": {CONTRIB},
    "sqlite3": {"stoker.storage.sqlite"},
    "psycopg": {"stoker.storage.postgres"},
    "psycopg_pool": {"stoker.storage.postgres"},
    "redis": {"stoker.storage.redis"},
    "starlette": WEB,
    "jinja2": WEB,
    "uvicorn": WEB,
    "opentelemetry": {CONTRIB},
    "prometheus_client": {"stoker.metrics"},
}


def module_files(src: Path) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package) for every .py file under `src`."""
    found = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def imported_names(module: str, path: Path, is_package: bool) -> Iterator[str]:
    """Every name `module` imports anywhere: top level, in functions, under TYPE_CHECKING."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing module's package
                package = module.split(".")[: None if is_package else -1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports (a `from pkg import name` counts as
    pkg.name when that is a module, else as pkg), plus bare top-level names of other packages."""
    modules = module_files(src)
    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        targets = set()
        for name in imported_names(module, path, is_package):
            while name and name not in modules and "." in name:
                name = name.rpartition(".")[0]
            if name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def part_of(module: str, parts: Mapping[str, object]) -> str:
    return max((p for p in parts if module == p or module.startswith(p + ".")), key=len)


def upward_imports(graph: Mapping[str, set[str]]) -> list[str]:
    """'a -> b' for every import of a part the importer's part may not use."""
    bad = []
    for module, targets in sorted(graph.items()):
        if not module.startswith("stoker"):
            continue
        own = part_of(module, ALLOWED)
        for target in sorted(targets):
            if target in graph and target.startswith("stoker"):
                other = part_of(target, ALLOWED)
                forbidden = other == CONTRIB and own != CONTRIB  # not even for `stoker`
                if forbidden or (other != own and not ALLOWED[own] & {other, "*"}):
                    bad.append(f"{module} -> {target}")
            elif own not in RESTRICTED.get(target.split(".")[0], {own}):
                bad.append(f"{module} -> {target}")
    return bad


def import_circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root] & graph.keys())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while (member := stack.pop()) != node:
                        on_stack.discard(member)
                        component.append(member)
                    on_stack.discard(node)
                    if component:
                        circles.append(sorted([node, *component]))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child] & graph.keys()))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return circles


def test_stoker_has_no_import_circle() -> None:
    assert import_circles(import_graph(SRC)) == []


def test_no_part_of_stoker_imports_a_part_above_it_or_a_driver_it_does_not_own() -> None:
    assert upward_imports(import_graph(SRC)) == []


def test_nothing_in_stoker_imports_the_framework_integrations() -> None:
    # `stoker: {"*"}` lets the top package import any part, but never contrib: `import stoker`
    # must work (and stay light) without Django or Flask installed.
    graph = import_graph(SRC)
    importers = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if not module.startswith(CONTRIB)
        for target in targets
        if target == CONTRIB or target.startswith(CONTRIB + ".")
    )
    assert importers == []
    assert any(module.startswith(CONTRIB + ".") for module in graph), "contrib is scanned"


def test_core_and_each_storage_driver_are_packages() -> None:
    for package in (CORE, *DRIVERS, "stoker.storage.common"):
        assert (SRC / package.replace(".", "/") / "__init__.py").is_file(), package


@pytest.fixture
def tangled(tmp_path: Path) -> Path:
    """A small tree with the faults the rules must catch, hidden where scanners miss them."""
    files = {
        "stoker/__init__.py": "",
        "stoker/core/__init__.py": "",
        "stoker/core/states.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from stoker.client import Client\n"
        ),
        "stoker/core/jobs.py": "def f():\n    import redis\n    import starlette.routing\n",
        "stoker/client/__init__.py": "from .plan import Plan\n",
        "stoker/client/plan.py": "def g():\n    from stoker.client import Client\n",
        "stoker/storage/__init__.py": "",
        "stoker/storage/sqlite/__init__.py": "from ..redis import x\n",
        "stoker/storage/redis/__init__.py": "",
        "stoker/contrib/__init__.py": "",
        "stoker/contrib/otel.py": "import opentelemetry.trace\nfrom stoker.core import jobs\n",
        "stoker/app.py": "from stoker.contrib import otel\n",
        "stoker/cli/__init__.py": "import opentelemetry\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_the_rules_see_type_checking_function_level_and_relative_imports(tangled: Path) -> None:
    graph = import_graph(tangled)
    assert import_circles(graph) == [["stoker.client", "stoker.client.plan"]]
    assert upward_imports(graph) == [
        "stoker.app -> stoker.contrib.otel",
        "stoker.cli -> opentelemetry",
        "stoker.core.jobs -> redis",
        "stoker.core.jobs -> starlette",
        "stoker.core.states -> stoker.client",
        "stoker.storage.sqlite -> stoker.storage.redis",
    ]
