"""Reliability fixtures: a storage per kind, and the figures every test reports at the end."""

from __future__ import annotations

import pytest

from tests.reliability.support import FIGURES, REPORT_PATH, Figures

STORAGES = ["sqlite", "postgres", "redis"]


@pytest.fixture(params=STORAGES)
def storage_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def figures() -> Figures:
    return FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES.rows:
        return
    terminalreporter.section("reliability figures")
    for line in FIGURES.lines():
        terminalreporter.write_line(line)
    if REPORT_PATH:
        FIGURES.write(REPORT_PATH)
        terminalreporter.write_line(f"written to {REPORT_PATH}")
