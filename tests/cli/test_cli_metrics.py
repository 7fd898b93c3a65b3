"""`stoker server --metrics-port`: bad values and a missing extra are refused before starting."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from tests.cli.conftest import Result, assert_clean_error


def test_a_port_out_of_range_is_a_usage_error(run_cli: Callable[..., Result]) -> None:
    result = run_cli("server", "--storage", "sqlite://:memory:", "--metrics-port", "70000")
    assert result.code == 2
    assert "--metrics-port: must be a TCP port from 1 to 65535" in result.err


def test_without_the_extra_the_server_says_what_to_install(
    run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    result = run_cli("server", "--storage", "sqlite://:memory:", "--metrics-port", "9100")
    assert_clean_error(result, "pip install 'stoker[metrics]'")
