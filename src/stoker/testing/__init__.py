"""Test helpers for stoker and its storages: the storage contract suite, a fake clock, and
`run_until_idle` / `EagerRunner`, which run an App's jobs in the test's own thread.

This package module itself holds no asserts, so pytest may leave it as it is
(PYTEST_DONT_REWRITE: no warning that it was imported before it could be rewritten); every
module inside it is rewritten.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

try:
    import pytest
except ImportError:  # FakeClock stays usable without pytest installed
    pass
else:
    # The contract's asserts live in this installed package, not in a test module: without this
    # pytest would report a failing contract test as a bare AssertionError with no values. One
    # name covers every submodule, so a new contract module can never be left out.
    pytest.register_assert_rewrite("stoker.testing")

if TYPE_CHECKING:
    from stoker.testing.clock import FakeClock
    from stoker.testing.eager import EagerRun, EagerRunner, NotIdleError, RanJob, run_until_idle

# Imported on first use (PEP 562): the contract suite and FakeClock need no server code.
_EXPORTS: dict[str, str] = {
    "FakeClock": "stoker.testing.clock",
    "EagerRun": "stoker.testing.eager",
    "EagerRunner": "stoker.testing.eager",
    "NotIdleError": "stoker.testing.eager",
    "RanJob": "stoker.testing.eager",
    "run_until_idle": "stoker.testing.eager",
}
__all__ = ["EagerRun", "EagerRunner", "FakeClock", "NotIdleError", "RanJob", "run_until_idle"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stoker.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
