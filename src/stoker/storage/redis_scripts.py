"""The Redis storage's Lua scripts: assembled from redis_lua/*.lua and registered for EVALSHA."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import redis
from redis.commands.core import Script

# Each script is its own file with the shared helpers (and job creation, where it creates jobs)
# prepended: Redis scripts cannot call each other, and one script per step is what makes each
# step atomic.
_PARTS: dict[str, tuple[str, ...]] = {
    "create_jobs": ("common", "create", "create_jobs"),
    "fire_recurring": ("common", "create", "fire_recurring"),
    "fetch_next": ("common", "fetch_next_fn", "fetch_next"),
    "change_state": ("common", "change_state_fn", "change_state"),
    "finish_fetch": ("common", "change_state_fn", "fetch_next_fn", "finish_fetch"),
    "steps": ("common", "change_state_fn", "fetch_next_fn", "steps"),
    "enqueue_due": ("common", "enqueue_due"),
    "requeue_orphaned": ("common", "requeue_orphaned"),
    "remove_dead_servers": ("common", "remove_dead_servers"),
    "heartbeat": ("common", "heartbeat"),
    "delete_expired": ("common", "delete_expired"),
    "save_recurring": ("common", "save_recurring"),
    "set_recurring_paused": ("common", "set_recurring_paused"),
    "remove_recurring": ("common", "remove_recurring"),
    "if_exists": ("common", "if_exists"),
    "acquire_lock": ("common", "acquire_lock"),
    "release_lock": ("common", "release_lock"),
}


@cache
def script_source(name: str) -> str:
    """The full Lua text of script `name`."""
    folder = resources.files("stoker.storage.redis_lua")
    return "\n".join((folder / f"{part}.lua").read_text("utf-8") for part in _PARTS[name])


@dataclass(frozen=True)
class Scripts:
    """Every script, registered on one client (redis-py reloads them after a Redis restart)."""

    create_jobs: Script
    fire_recurring: Script
    fetch_next: Script
    change_state: Script
    finish_fetch: Script
    steps: Script
    enqueue_due: Script
    requeue_orphaned: Script
    remove_dead_servers: Script
    heartbeat: Script
    delete_expired: Script
    save_recurring: Script
    set_recurring_paused: Script
    remove_recurring: Script
    if_exists: Script
    acquire_lock: Script
    release_lock: Script

    @classmethod
    def register(cls, client: redis.Redis) -> Scripts:
        return cls(**{name: client.register_script(script_source(name)) for name in _PARTS})
