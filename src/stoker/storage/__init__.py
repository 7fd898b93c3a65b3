"""Open a storage from its URL; drivers are imported only when their scheme is used."""

from __future__ import annotations

import importlib
from typing import Any

from stoker.core.errors import StorageURLError
from stoker.core.protocols import Monitor, Storage
from stoker.storage.common.urls import redact_url

__all__ = ["Monitor", "Storage", "open_storage", "redact_url"]

# scheme -> (module, class); the module is imported lazily so the core never needs a driver.
_DRIVERS: dict[str, tuple[str, str, str]] = {
    "sqlite": ("stoker.storage.sqlite", "SQLiteStorage", ""),
    "postgresql": ("stoker.storage.postgres", "PostgresStorage", "postgres"),
    "postgres": ("stoker.storage.postgres", "PostgresStorage", "postgres"),
    "redis": ("stoker.storage.redis", "RedisStorage", "redis"),
    "rediss": ("stoker.storage.redis", "RedisStorage", "redis"),
    "memory": ("stoker.storage.memory", "MemoryStorage", ""),
}


def open_storage(url: str, **options: Any) -> Storage:
    """Open the storage a URL names: sqlite:///file.db, postgresql://…, redis://…, memory://…"""
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise StorageURLError(
            f"not a storage URL: {redact_url(url)!r}; expected sqlite:///path.db, "
            "postgresql://user@host:5432/db, redis://host:6379/0 or memory://"
        )
    driver = _DRIVERS.get(scheme.lower())
    if driver is None:
        raise StorageURLError(
            f"unknown storage scheme {scheme!r} in {redact_url(url)!r}; "
            f"supported: {', '.join(sorted(_DRIVERS))}"
        )
    module_name, class_name, extra = driver
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"; install it with: pip install 'stoker[{extra}]'" if extra else ""
        raise StorageURLError(
            f"the {scheme} storage needs a missing package ({exc.name}){hint}"
        ) from exc
    storage: Storage = getattr(module, class_name).from_url(url, **options)
    return storage
