"""The in-memory storage (`memory://`): for tests and demos, one process, nothing on disk."""

from __future__ import annotations

from stoker.storage.memory.storage import MemoryStorage

__all__ = ["MemoryStorage"]
