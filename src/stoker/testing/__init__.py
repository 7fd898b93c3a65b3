"""Test helpers for stoker and its storages: the storage contract suite and a fake clock."""

from __future__ import annotations

try:
    import pytest
except ImportError:  # FakeClock stays usable without pytest installed
    pass
else:
    # The contract's asserts live in this installed package, not in a test module: without this
    # pytest would report a failing contract test as a bare AssertionError with no values.
    pytest.register_assert_rewrite(
        *(
            f"stoker.testing.contract{suffix}"
            for suffix in (
                "",
                "_continuations",
                "_fetch",
                "_jobs",
                "_monitor",
                "_recurring",
                "_servers",
                "_state",
                "_support",
            )
        )
    )
