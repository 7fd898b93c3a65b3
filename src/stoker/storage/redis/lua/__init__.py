"""Lua scripts of the Redis storage; `stoker.storage.redis.scripts` assembles and loads them."""
