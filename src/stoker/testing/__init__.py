"""Test helpers for stoker and its storages: the storage contract suite and a fake clock.

This package module itself holds no asserts, so pytest may leave it as it is
(PYTEST_DONT_REWRITE: no warning that it was imported before it could be rewritten); every
module inside it is rewritten.
"""

from __future__ import annotations

try:
    import pytest
except ImportError:  # FakeClock stays usable without pytest installed
    pass
else:
    # The contract's asserts live in this installed package, not in a test module: without this
    # pytest would report a failing contract test as a bare AssertionError with no values. One
    # name covers every submodule, so a new contract module can never be left out.
    pytest.register_assert_rewrite("stoker.testing")
