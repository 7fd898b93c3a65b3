"""The Redis storage: one Lua script per step of a job's life (see stoker.storage.redis.storage)."""

from __future__ import annotations

from stoker.storage.redis.storage import RedisStorage

__all__ = ["RedisStorage"]
