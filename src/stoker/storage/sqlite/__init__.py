"""The SQLite storage: embedded, zero-setup, one file (see stoker.storage.sqlite.storage)."""

from __future__ import annotations

from stoker.storage.sqlite.storage import SQLiteStorage
from stoker.storage.sqlite.url import SQLiteOptions

__all__ = ["SQLiteOptions", "SQLiteStorage"]
