"""Lua scripts of the Redis storage; `stoker.storage.redis_scripts` assembles and loads them."""
